"""Hot-path statements sent through libpq directly, and a transaction's BEGIN in the same round
trip as its first statement.

`wallet.rows.cursor()` hands out a `Cursor` from here on PostgreSQL: what the hot path uses of
psycopg's cursor (`execute`, `fetchone`, `fetchall`, `rowcount`), at about half its CPU. psycopg's
`Cursor.execute` walks a chain of generators, resets and rebuilds its state and result
machinery for every statement; the statement itself needs only the query converted, sent and
its rows loaded, which psycopg's own C parts (`Transformer`, `pgconn`, `generators.execute`) do.
On a wallet callback (3-4 statements) that was some 10% of the server's CPU (docs/benchmarks/igpx.md,
session 12).

**BEGIN.** psycopg sends BEGIN on its own, and waits for its answer, before the first statement
of a transaction: one round trip of the 4-5 a callback makes, with the worker asleep and awake
again on both sides. Here, where psycopg would send it (not autocommit, nothing open on the
server), BEGIN, the statement and a Sync go together in libpq's pipeline mode, and one read
brings both answers. The text is psycopg's own (`_get_tx_start_command`: isolation level and
the rest), so the transaction is the one psycopg would have opened; afterwards psycopg sees a
transaction open on the server and sends no BEGIN of its own, and its COMMIT or ROLLBACK ends it
as usual.

psycopg's prepared-statement cache stays true as in `config/postgresql/commit.py`: a statement is
prepared, or not, exactly as a psycopg cursor would at that point, under psycopg's names, and
psycopg's maintenance (deallocating what its cache evicted) runs after it as after a cursor's.

Where psycopg is in charge of something this does not model (its pipeline mode, a psycopg whose
internals moved: requirements.txt pins 3.3.9), `usable()` says no and psycopg's cursor is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import errors, pq
from psycopg._preparing import Prepare
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer
from psycopg.generators import execute as _execute

from config.postgresql.commit import _raise_first_error, _results

_IDLE = pq.TransactionStatus.IDLE
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_NO = Prepare.NO
_SHOULD = Prepare.SHOULD


def usable(raw: Any) -> bool:
    """This psycopg connection's statements may go through `Cursor`."""
    try:
        return raw._pipeline is None and raw._prepared is not None and isinstance(raw._autocommit, bool)
    except AttributeError:
        return False


class Cursor:
    """One hot-path statement at a time on `raw` (a psycopg connection): `execute`, then
    `fetchone` / `fetchall`; rows are tuples, as from psycopg's default cursor."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._rows: list[tuple] | None = None
        self._pos = 0
        self.rowcount = -1

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        self._rows, self.rowcount = execute(self._raw, sql, params)
        self._pos = 0
        return self

    def fetchone(self) -> tuple | None:
        rows = self._checked()
        if self._pos >= len(rows):
            return None
        self._pos += 1
        return rows[self._pos - 1]

    def fetchall(self) -> list[tuple]:
        rows = self._checked()
        rest = rows[self._pos :]
        self._pos = len(rows)
        return rest

    def _checked(self) -> list[tuple]:
        if self._rows is None:  # psycopg's wording for the same mistake
            raise errors.ProgrammingError("the last operation didn't produce records")
        return self._rows


def execute(raw: Any, sql: str, params: Sequence[Any] | None) -> tuple[list[tuple] | None, int]:
    """Run one statement (%s placeholders) on `raw`, opening the transaction in the same round
    trip where psycopg would open one first; (its rows, or None for a statement without rows,
    and the row count). Errors are raised as psycopg raises them (the caller translates)."""
    with raw.lock:
        result, tx = run(raw, sql, params)
        if result.status != _TUPLES_OK:
            count = result.command_tuples
            return None, -1 if count is None else count
        count = result.ntuples
        if not count:
            return [], 0
        tx.set_pgresult(result)
        return tx.load_rows(0, count, tuple), count


def begins(raw: Any) -> bool:
    """The next statement opens a transaction: psycopg would send BEGIN before it."""
    return not raw._autocommit and raw.pgconn.transaction_status == _IDLE


def run(raw: Any, sql: str, params: Sequence[Any] | None) -> tuple[Any, Transformer]:
    """Send the statement (with BEGIN where `begins`), wait; its last result and the transformer
    that loads it. The caller holds `raw.lock`."""
    tx = Transformer(raw)
    query = PostgresQuery(tx)
    query.convert(sql, params)
    cache = raw._prepared
    prep, name = cache.get(query, None)
    pgconn = raw.pgconn
    begin = raw._get_tx_start_command() if begins(raw) else None
    if begin is None and prep is not _SHOULD:
        _send(pgconn, query, prep, name)
        results = raw.wait(_execute(pgconn))
    else:
        pgconn.enter_pipeline_mode()
        try:
            if begin is not None:
                pgconn.send_query_params(begin, None)
            if prep is _SHOULD:
                pgconn.send_prepare(name, query.query, param_types=query.types)
            _send(pgconn, query, prep, name)
            pgconn.pipeline_sync()
            groups = raw.wait(_results(pgconn))
        except BaseException:
            # The socket or the protocol failed midway: no use can be made of this connection.
            raw.close()
            raise
        pgconn.exit_pipeline_mode()
        *before, results = groups
        for group in before:  # BEGIN, then the PREPARE: the first failure is the one to report
            _raise_first_error(group, raw)
    key = cache.maybe_add_to_cache(query, prep, name)
    if key is not None:
        cache.validate(key, prep, name, results)
    _raise_first_error(results, raw)
    if cache._to_flush:
        raw.wait(cache.maintain_gen(raw))
    return results[-1], tx


def _send(pgconn: Any, query: PostgresQuery, prep: Prepare, name: bytes) -> None:
    if prep is _NO:
        pgconn.send_query_params(query.query, query.params, param_types=query.types, param_formats=query.formats)
    else:
        pgconn.send_query_prepared(name, query.params, param_formats=query.formats)
