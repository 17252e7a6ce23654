"""Django's PostgreSQL backend, except that rolling back keeps the connection's prepared statements.

psycopg forgets every statement it prepared on a connection, and drops them all on the server
(DEALLOCATE ALL), whenever a ROLLBACK or ROLLBACK TO SAVEPOINT goes through it: in general a
transaction that rolled back may have dropped or changed what they refer to. Touchline's
transactions never change the schema (migrations run in their own process), and the wallet
rolls back on every declined bet. Each decline then cost every hot statement five unprepared
runs, parsed and planned each time, before psycopg prepared it again: at one decline in 60
callbacks PostgreSQL's CPU per callback doubled (docs/benchmarks/igpx.md, session 4).

So both rollbacks are sent here with psycopg's own command path, minus the forgetting.
Server-side prepared statements are not transactional (a statement prepared inside a
transaction that rolls back stays), so psycopg's cache stays true. Everything else, including
DROP/ALTER/DISCARD sent as statements, keeps psycopg's behaviour. Selected by
config/settings.py for every PostgreSQL DATABASE_URL.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from django.db.backends.utils import debug_transaction
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def _rollback(self) -> None:
        if self.connection is None or _psycopg_manages(self.connection):
            return super()._rollback()
        with debug_transaction(self, "ROLLBACK"), self.wrap_database_errors, self.connection.lock:
            if self.connection.pgconn.transaction_status != pq.TransactionStatus.IDLE:  # else nothing to undo
                _send(self.connection, b"ROLLBACK")

    def _savepoint_rollback(self, sid: str) -> None:
        self.ensure_connection()
        if _psycopg_manages(self.connection):
            return super()._savepoint_rollback(sid)
        self.validate_thread_sharing()
        with self.wrap_database_errors, self.connection.lock:
            _send(self.connection, self.ops.savepoint_rollback_sql(sid).encode())


def _psycopg_manages(conn: Any) -> bool:
    """psycopg's own transaction blocks, two-phase commit or pipeline mode (Django uses none of
    them): there psycopg's checks and bookkeeping apply, so its own rollback is used."""
    return bool(
        getattr(conn, "_num_transactions", 0) or getattr(conn, "_tpc", None) or getattr(conn, "_pipeline", None)
    )


def _send(conn: Any, command: bytes) -> None:
    """`command` through psycopg's command path (errors raised as psycopg's), without the
    cache clearing its `rollback()` adds. The caller holds `conn.lock`."""
    conn.wait(conn._exec_command(command))
