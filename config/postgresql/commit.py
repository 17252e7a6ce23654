"""A transaction's last statement and its COMMIT in one round trip (libpq's pipeline mode).

A wallet callback is one transaction of 3-4 statements between BEGIN and COMMIT, each a round
trip to PostgreSQL: the web worker sleeps and wakes, and so does the backend, at each one. The
last statement (the idempotency record's answer, carrying the CRM outbox rows) reads nothing
back, so it and COMMIT can travel together: libpq's pipeline mode sends both and a Sync, and
one read brings back both results. That is one wait fewer per callback and about 50,000
instructions fewer (docs/benchmarks/igpx.md, session 11).

psycopg's own `Connection.pipeline()` does this at a CPU cost above the round trip it saves
(measured in sessions 2 and 4), so this talks to libpq through psycopg's `pgconn` directly
(the pipeline of `config/postgresql/lean.py`, which sends a transaction's BEGIN the same way),
and keeps psycopg's prepared-statement cache true: the statement is prepared, or not, exactly
as a psycopg cursor would at that point, under psycopg's own names, so a later ROLLBACK (which
makes psycopg forget them all) or a cache eviction applies to it too.

Afterwards the connection is as if the statement had run and `commit()` been called: idle,
outside any transaction. Django's atomic block then calls `commit()`, which psycopg skips on
an idle connection, and runs the on-commit hooks as usual. A statement that fails leaves the
transaction aborted (COMMIT is not run: the pipeline stops at the error) and raises; a COMMIT
that fails (a deferred constraint) has rolled the transaction back and raises. Either way the
atomic block's rollback follows and nothing of the transaction stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import pq

from config.postgresql import lean

_INTRANS = pq.TransactionStatus.INTRANS


def usable(connection: Any) -> bool:
    """The open transaction is the connection's own outermost atomic block with a transaction
    open on the server: no savepoint, not inside a test's wrapping transaction, no psycopg
    transaction block, pipeline or two-phase commit in charge."""
    raw = connection.connection
    try:
        return (
            raw is not None
            and connection.in_atomic_block
            and not connection.savepoint_ids
            and len(connection.atomic_blocks) == 1
            and not connection.needs_rollback
            and not raw._num_transactions
            and raw._pipeline is None
            and raw._tpc is None
            and raw._prepared is not None
            and raw.pgconn.transaction_status == _INTRANS
        )
    except AttributeError:  # a psycopg whose internals moved (requirements.txt pins 3.3.9): go the usual way
        return False


def execute_and_commit(connection: Any, sql: str, params: Sequence[Any]) -> None:
    """Run `sql` (%s placeholders, no rows read back) and commit, in one round trip. The caller
    checked `usable(connection)`; errors are raised as Django's, like any statement's."""
    raw = connection.connection
    with connection.wrap_database_errors, raw.lock:
        _, query, prep, name = lean.statement(raw, sql, params)
        statement, committed = lean.piped(raw, query, prep, name, then=b"COMMIT")
        lean.cached(raw, query, prep, name, statement)
        lean.raise_first_error(statement, raw)
        lean.raise_first_error(committed, raw)
