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

from collections.abc import Generator, Sequence
from typing import Any

from psycopg import errors, pq
from psycopg._preparing import Prepare
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer
from psycopg.generators import execute as _execute
from psycopg.waiting import Wait

_IDLE = pq.TransactionStatus.IDLE
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_FATAL = pq.ExecStatus.FATAL_ERROR
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
    tx, query, prep, name = statement(raw, sql, params)
    begin = raw._get_tx_start_command() if begins(raw) else None
    if begin is None and prep is not _SHOULD:
        _send(raw.pgconn, query, prep, name)
        results = raw.wait(_execute(raw.pgconn))
    else:
        results, _ = piped(raw, query, prep, name, begin=begin)
    cached(raw, query, prep, name, results)
    raise_first_error(results, raw)
    cache = raw._prepared
    if cache._to_flush:
        raw.wait(cache.maintain_gen(raw))
    return results[-1], tx


def statement(raw: Any, sql: str, params: Sequence[Any] | None) -> tuple[Transformer, PostgresQuery, Prepare, bytes]:
    """`sql` converted as a psycopg cursor converts it, and whether psycopg's cache says to
    prepare it, and under which name."""
    kept = _kept(raw)
    query = kept.queries.get(sql) if params is not None else None
    if query is None:
        query = PostgresQuery(kept.tx)
        query.convert(sql, params)
        if params is not None:
            kept.keep(sql, query)
    else:
        query.dump(params)
    prep, name = raw._prepared.get(query, None)
    return kept.tx, query, prep, name


class _Kept:
    """A connection's transformer, and its statements converted (`PostgresQuery`), kept from one
    statement to the next, as a psycopg cursor keeps both while it runs the same query again
    (`BaseCursor._start_query`). A new transformer per statement starts with empty caches: each
    type of parameter and of column was looked up again in the connection's adapters in Python
    (`AdaptersMap.get_dumper`, `get_loader`: ~25 lookups a wallet callback), each timestamptz
    loader made again (config/postgresql/timestamps.py), each statement's text encoded again and
    its bytes hashed for psycopg's query cache (issue #18).

    A kept statement is only given its new parameters (`PostgresQuery.dump`); only one runs at a
    time (the caller holds the connection's lock). The transformer has the connection's adapters
    as they were at its first statement through here: Django's and config/postgresql's are
    registered when the connection opens, before any statement; its encoding is the one Django
    sets on connecting. Its timestamptz loaders label values with the session's time zone as it
    was when they were made, so a change of the session's TimeZone makes a new one."""

    __slots__ = ("tx", "queries", "timezone")

    _KEPT_STATEMENTS = 512  # distinct statement texts (a few dozen in use); emptied when full

    def __init__(self, raw: Any, timezone: bytes | None) -> None:
        self.tx = Transformer(raw)
        self.queries: dict[str, PostgresQuery] = {}
        self.timezone = timezone

    def keep(self, sql: str, query: PostgresQuery) -> None:
        if len(self.queries) >= self._KEPT_STATEMENTS:
            self.queries.clear()
        self.queries[sql] = query


def _kept(raw: Any) -> _Kept:
    kept = raw.__dict__.get("_touchline_kept")
    timezone = raw.pgconn.parameter_status(b"TimeZone")
    if kept is None or kept.timezone != timezone:
        kept = raw._touchline_kept = _Kept(raw, timezone)
    return kept


def piped(
    raw: Any, query: PostgresQuery, prep: Prepare, name: bytes, *, begin: bytes | None = None, then: bytes | None = None
) -> tuple[list[Any], list[Any] | None]:
    """Send `begin`, the PREPARE where psycopg's cache asks for one, the statement, `then` and
    one Sync in libpq's pipeline mode, and read everything back in one round trip: the
    statement's results and `then`'s. A failed BEGIN or PREPARE is raised here (the commands
    after it come back aborted); the statement's and `then`'s errors are the caller's to raise,
    after `cached`."""
    pgconn = raw.pgconn
    pgconn.enter_pipeline_mode()
    try:
        if begin is not None:
            pgconn.send_query_params(begin, None)
        if prep is _SHOULD:
            pgconn.send_prepare(name, query.query, param_types=query.types)
        _send(pgconn, query, prep, name)
        if then is not None:
            pgconn.send_query_params(then, None)
        pgconn.pipeline_sync()
        groups = raw.wait(_results(pgconn))
    except BaseException:
        # The socket or the protocol failed midway: no use can be made of this connection.
        raw.close()
        raise
    pgconn.exit_pipeline_mode()
    after = groups.pop() if then is not None else None
    *before, results = groups
    for group in before:  # BEGIN, then the PREPARE: the first failure is the one to report
        raise_first_error(group, raw)
    return results, after


def cached(raw: Any, query: PostgresQuery, prep: Prepare, name: bytes, results: list[Any]) -> None:
    """psycopg's statement cache told what became of the statement, as a cursor tells it."""
    cache = raw._prepared
    key = cache.maybe_add_to_cache(query, prep, name)
    if key is not None:
        cache.validate(key, prep, name, results)


def raise_first_error(results: Sequence[Any], raw: Any) -> None:
    for result in results:
        if result.status == _FATAL:
            raise errors.error_from_result(result, encoding=raw.info.encoding)


def _results(pgconn: Any) -> Generator[Wait, Any, list[list[Any]]]:
    """Send what is queued, then read every command's results up to the Sync: one list per
    command (a command after a failed one comes back as PIPELINE_ABORTED)."""
    while pgconn.flush():
        yield Wait.RW
        pgconn.consume_input()
    groups: list[list[Any]] = []
    current: list[Any] = []
    while True:
        while pgconn.is_busy():
            yield Wait.R
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # the end of one command's results
            groups.append(current)
            current = []
        elif result.status == _SYNC:
            return groups
        else:
            current.append(result)


def _send(pgconn: Any, query: PostgresQuery, prep: Prepare, name: bytes) -> None:
    if prep is _NO:
        pgconn.send_query_params(query.query, query.params, param_types=query.types, param_formats=query.formats)
    else:
        pgconn.send_query_prepared(name, query.params, param_formats=query.formats)
