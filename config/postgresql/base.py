"""Django's PostgreSQL backend, except that rolling back keeps the connection's prepared
statements, a connection the server closed is replaced before a transaction starts on it, and
timestamptz values are parsed by psycopg's C loader (config/postgresql/timestamps.py).

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

**Stale connections.** A PostgreSQL restart or `pg_terminate_backend` closes the server's end
of every idle connection; the client finds out only when it next sends a statement, which then
fails, and with it the request (a bet declined for no reason). But the server says so when it
closes (a FATAL message, then end of file), so the socket of a connection that is idle, with
nothing asked, turns readable. That is checked with one `poll()` with zero timeout (no round
trip, about a microsecond) wherever nothing is at stake yet: when a transaction is about to
start, before a statement outside any transaction, when Django checks connections at the start
and end of a request, and when the pool hands a connection out. A connection found closed is
replaced there, and the work goes on as if nothing happened. A connection that dies between
that check and its first statement (microseconds) still fails that one statement, as does one
that dies mid-transaction: there the transaction's work is lost and only the caller may retry.
"""

from __future__ import annotations

import logging
import select
from typing import Any

from django.db.backends.postgresql import base
from django.db.backends.utils import debug_transaction
from psycopg import pq

from config.logthrottle import Throttled
from config.postgresql import timestamps

logger = logging.getLogger("touchline.db")
throttled = Throttled(logger, interval=60.0)


def server_closed(conn: Any) -> bool:
    """The server closed this idle connection (module docstring); False while a statement or a
    transaction is in progress, whose answer the socket may legitimately be carrying."""
    if conn.closed or conn.broken:
        return True
    pgconn = conn.pgconn
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except Exception:  # no socket any more: certainly not usable
        return True


class DatabaseWrapper(base.DatabaseWrapper):
    def _replace_if_closed(self) -> None:
        """Outside any transaction: if the server closed our connection, connect afresh."""
        if self.connection is None or not server_closed(self.connection):
            return
        throttled.warning(
            "stale-connection",
            "database connection %s was closed by the server (restart or termination): replaced before use",
            self.alias,
        )
        try:
            self.close()
        except Exception:  # closing what the server already closed: nothing to save
            self.connection = None
        self.connect()

    def set_autocommit(self, autocommit: bool, force_begin_transaction_with_broken_autocommit: bool = False) -> None:
        if not autocommit and not self.in_atomic_block:  # a transaction is about to start
            with self.wrap_database_errors:
                self._replace_if_closed()
        super().set_autocommit(autocommit, force_begin_transaction_with_broken_autocommit)

    def _cursor(self, name: str | None = None) -> Any:
        if not self.in_atomic_block and self.autocommit:  # a statement outside any transaction
            with self.wrap_database_errors:
                self._replace_if_closed()
        return super()._cursor(name)

    def close_if_unusable_or_obsolete(self) -> None:
        super().close_if_unusable_or_obsolete()  # start and end of each request, each Celery task
        if self.connection is not None and not self.in_atomic_block and server_closed(self.connection):
            try:
                self.close()
            except Exception:
                self.connection = None

    def get_new_connection(self, conn_params: dict) -> Any:
        connection = self._new_connection(conn_params)
        timestamps.install(connection, self.timezone)  # psycopg's C parser for timestamptz, not Python's
        return connection

    def _new_connection(self, conn_params: dict) -> Any:
        connection = super().get_new_connection(conn_params)
        if not self.pool:
            return connection
        # The pool hands out what it was given back; one the server closed since goes back
        # closed, which makes the pool drop it and open a new one.
        for _ in range(self.pool.max_size + 1):
            if not server_closed(connection):
                return connection
            throttled.warning("stale-pooled", "pooled database connection was closed by the server: replaced")
            connection.close()
            self.pool.putconn(connection)
            connection = super().get_new_connection(conn_params)
        return connection

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
