"""`transaction.atomic(durable=True)` for the wallet's hot path, at under half its CPU.

Every wallet callback is one durable transaction. Django's `Atomic` opens it by turning the
connection's autocommit off and closes it by committing and turning autocommit back on: each
turn goes through Django's `set_autocommit` (validation, health check, `ensure_connection`)
and psycopg's autocommit setter, which runs a generator through `Connection.wait` to check,
under the connection's lock, what is already known here: that the connection is idle. With the
commit, and the context-local lookups of the connection on the way in and out, that was 8.5% of
an IGPX callback's py-spy samples; this block is 3.6% of them, and a callback's server
instructions fell 7.6% (docs/benchmarks/igpx.md, session 16).

`Durable` is Django's `Atomic` (a subclass: nested blocks, `on_commit` and `get_rollback()` see
an ordinary outermost atomic block) that takes the short way only where its outcome is known to
equal `Atomic`'s:
- the block is outermost (nothing is open: the durable check holds by construction);
- the connection (opened first if need be) is in autocommit and idle on the server, and not in
  psycopg's transaction block, pipeline or two-phase commit;
- queries are not being logged (Django's debug cursor records BEGIN and COMMIT, which only
  `Atomic` writes);
- the stale-connection check runs first, as `config/postgresql/base.py`'s `set_autocommit`
  does before every transaction;
- the Django is the one whose `Atomic` this repeats (`DJANGO_READ`; on another the short way is
  not taken, and tests/test_db_atomic.py fails until someone rereads django/db/transaction.py).

Everywhere else (a test's wrapping transaction, `DEBUG`; `rows.durable()` gives SQLite Django's
own) it is `Atomic` itself. On the short way:
- entering sets the two autocommit flags (Django's and psycopg's) and the block's state as
  `Atomic.__enter__` does;
- leaving without an error commits. A transaction whose last statement went with its COMMIT
  (config/postgresql/commit.py), or that sent nothing, is already idle, and nothing is sent.
  Otherwise Django's `commit()` runs;
- leaving on an error, or with `needs_rollback` set by a nested block, rolls back through
  Django's `rollback()`;
- a commit or rollback that fails, and a connection closed inside the block, are handled as
  `Atomic.__exit__` handles them: rollback, else close; the connection is forgotten if it was
  closed in the block;
- then autocommit is back on and the `on_commit` hooks run, after a commit only.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import django
from django.db import DatabaseError, Error
from django.db.transaction import Atomic
from psycopg import pq

from config.postgresql.lean import usable

_IDLE = pq.TransactionStatus.IDLE
DJANGO_READ = (5, 2)  # the Django whose Atomic.__enter__/__exit__ the short way repeats
_SAME_DJANGO = django.VERSION[:2] == DJANGO_READ


class Durable(Atomic):
    """`transaction.atomic(durable=True)` on `connection` (module docstring)."""

    def __init__(self, connection: Any) -> None:
        super().__init__(connection.alias, True, True)
        self._connection = connection
        self._short = False

    def __enter__(self) -> None:
        conn = self._connection
        self._short = _short_way(conn)
        if not self._short:
            return super().__enter__()
        conn.commit_on_exit = True
        conn.needs_rollback = False
        conn.connection._autocommit = False  # psycopg's setter, minus re-checking what _short_way checked
        conn.autocommit = False
        conn.in_atomic_block = True
        conn.atomic_blocks.append(self)
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._short:
            return super().__exit__(exc_type, exc, tb)
        conn = self._connection
        conn.atomic_blocks.pop()
        conn.in_atomic_block = False
        try:
            if conn.closed_in_transaction:
                pass  # the server rolls back on its own
            elif exc_type is None and not conn.needs_rollback:
                _commit(conn)
            else:
                conn.needs_rollback = False
                try:
                    conn.rollback()
                except Error:
                    conn.close()  # a connection that cannot roll back is of no further use
        finally:
            _autocommit_back(conn)
        return None


def _short_way(conn: Any) -> bool:
    """The connection is as the short way needs it (module docstring); first replaced if the
    server closed it."""
    if not _SAME_DJANGO or conn.in_atomic_block or conn.queries_logged:
        return False
    conn.validate_thread_sharing()
    if conn.connection is None:
        conn.ensure_connection()  # as Atomic's get_autocommit(): connecting resets autocommit
    if not conn.autocommit:
        return False
    with conn.wrap_database_errors:
        conn._replace_if_closed()
    conn.close_if_health_check_failed()
    if conn.connection is None:
        conn.ensure_connection()
    raw = conn.connection
    try:
        return (
            raw is not None
            and usable(raw)
            and raw._autocommit is True
            and not raw._num_transactions
            and raw._tpc is None
            and raw.pgconn.transaction_status == _IDLE
        )
    except AttributeError:  # a psycopg whose internals moved (requirements.txt pins 3.3.9)
        return False


def _commit(conn: Any) -> None:
    raw = conn.connection
    if raw is not None and raw.pgconn.transaction_status == _IDLE:
        # Committed with the last statement (config/postgresql/commit.py), or nothing was sent.
        conn.errors_occurred = False
        conn.run_commit_hooks_on_set_autocommit_on = True
        return
    try:
        conn.commit()
    except DatabaseError:
        try:
            conn.rollback()
        except Error:
            conn.close()
        raise


def _autocommit_back(conn: Any) -> None:
    """Autocommit on again, and the on-commit hooks run if the transaction committed; what
    `Atomic.__exit__` ends with."""
    if conn.closed_in_transaction:
        conn.connection = None
        return
    raw = conn.connection
    if raw is None or raw.pgconn.transaction_status != _IDLE:
        conn.set_autocommit(True)  # Django's way, with its errors
        return
    raw._autocommit = True
    conn.autocommit = True
    if conn.run_commit_hooks_on_set_autocommit_on:
        conn.run_commit_hooks_on_set_autocommit_on = False
        conn.run_and_clear_commit_hooks()
