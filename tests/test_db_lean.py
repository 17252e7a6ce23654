"""config/postgresql/lean.py: the hot path's statements through libpq directly, BEGIN in the same
round trip as a transaction's first statement, with the outcome of psycopg's own cursor: the same
rows, the same transaction, the same prepared-statement cache, the same errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from psycopg import IsolationLevel, errors, pq

from config.postgresql import lean
from wallet import rows

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: libpq's pipeline mode")

IDLE = pq.TransactionStatus.IDLE
INTRANS = pq.TransactionStatus.INTRANS


@pytest.fixture
def table(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE lean_t (id int PRIMARY KEY, amount numeric(20, 8), note text)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE lean_t")


@pytest.fixture
def begins(table):
    """What psycopg sends as its own commands (BEGIN among them), recorded."""
    connection.ensure_connection()
    raw = connection.connection
    sent: list[bytes] = []
    own = raw._exec_command

    def recording(command, *args, **kwargs):
        sent.append(command if isinstance(command, bytes) else command.as_string(raw).encode())
        return own(command, *args, **kwargs)

    raw._exec_command = recording
    yield sent
    del raw._exec_command


def status():
    return connection.connection.pgconn.transaction_status


def test_the_hot_path_cursor_is_the_lean_one(db) -> None:
    with rows.cursor() as cursor:
        assert isinstance(cursor, lean.Cursor)


def test_begin_travels_with_the_first_statement_and_opens_the_transaction_psycopg_commits(begins) -> None:
    with transaction.atomic(durable=True):
        assert status() == IDLE  # nothing sent yet: Django's atomic block opens lazily
        with rows.cursor() as cursor:
            first = cursor.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        assert status() == INTRANS
        with rows.cursor() as cursor:
            cursor.execute("INSERT INTO lean_t VALUES (1, 2.5, 'a')")
            assert cursor.execute("SELECT pg_current_xact_id()::text").fetchone()[0] == first  # one transaction
    assert not [c for c in begins if c.startswith(b"BEGIN")]  # psycopg sent no BEGIN of its own; it commits
    assert status() == IDLE
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM lean_t")
        assert cursor.fetchall() == [(1,)]  # committed by the atomic block, as usual


def test_outside_a_transaction_a_statement_commits_alone(begins) -> None:
    with rows.cursor() as cursor:
        cursor.execute("INSERT INTO lean_t VALUES (1, 1, 'autocommit')")
    assert status() == IDLE and begins == []
    with transaction.atomic(durable=True), rows.cursor() as cursor:
        assert cursor.execute("SELECT count(*) FROM lean_t").fetchone() == (1,)


def test_the_transaction_is_the_one_psycopg_would_open(table) -> None:
    raw = connection.connection
    raw.isolation_level = IsolationLevel.SERIALIZABLE  # psycopg's BEGIN text then says so
    try:
        with transaction.atomic(durable=True), rows.cursor() as cursor:
            assert cursor.execute("SHOW transaction_isolation").fetchone() == ("serializable",)
    finally:
        raw.isolation_level = None
    assert lean.begins(raw) is False  # idle in autocommit: nothing to open


def test_rows_come_back_as_from_psycopg_s_cursor(table) -> None:
    sql = "SELECT %s::int, %s::numeric, %s::text, NULL::text, now() WHERE %s"
    params = [7, Decimal("2.50000000"), "seven", True]
    with connection.connection.cursor() as cursor:
        expected = cursor.execute(sql, params).fetchall()
    with rows.cursor() as cursor:
        got = cursor.execute(sql, params).fetchall()
        assert cursor.rowcount == 1
        assert cursor.fetchone() is None  # all fetched
    assert [(type(v) for v in row) for row in got] and [row[:4] for row in got] == [row[:4] for row in expected]
    assert type(got[0][1]) is Decimal and isinstance(got[0][4], datetime)
    with rows.cursor() as cursor:
        cursor.execute("INSERT INTO lean_t VALUES (1, 1, 'x'), (2, 2, 'y')")
        assert cursor.rowcount == 2
        with pytest.raises(errors.ProgrammingError):
            cursor.fetchone()  # psycopg's answer to fetching from a statement without rows
        assert cursor.execute("SELECT id FROM lean_t WHERE id > 5").fetchall() == []


def test_one_transformer_serves_a_connection_s_statements_whatever_their_types(table) -> None:
    """Kept from statement to statement (its caches warm), each statement's parameters and
    columns still get the loader and dumper of their own types, as from a psycopg cursor."""
    statements = [
        ("SELECT %s::int, %s::text", [7, "seven"]),
        ("SELECT %s::text, %s::int", ["eight", 8]),  # the same positions, other types
        ("SELECT %s::numeric, %s::timestamptz, %s::bool", [Decimal("2.50"), datetime(2026, 1, 2, tzinfo=UTC), False]),
        ("SELECT %s::bigint, %s", [2**40, None]),  # an int that needs int8; a NULL parameter
    ]
    transformers = []
    for sql, params in statements:
        with connection.connection.cursor() as cursor:
            expected = cursor.execute(sql, params).fetchall()
        with rows.cursor() as cursor:
            got = cursor.execute(sql, params).fetchall()
        assert got == expected and [type(v) for v in got[0]] == [type(v) for v in expected[0]]
        transformers.append(lean.statement(connection.connection, sql, params)[0])
    assert all(t is transformers[0] for t in transformers)  # one for the connection, not one a statement


def test_each_connection_has_its_own_transformer(db) -> None:
    connection.ensure_connection()
    ours = lean.statement(connection.connection, "SELECT 1", None)[0]
    other = psycopg.connect(**connection.get_connection_params())
    try:
        theirs = lean.statement(other, "SELECT 1", None)[0]
        assert theirs is not ours and theirs.connection is other and ours.connection is connection.connection
        assert lean.statement(other, "SELECT 2", None)[0] is theirs
    finally:
        other.close()


def test_a_new_session_time_zone_gets_a_new_transformer(db) -> None:
    """A timestamptz loader is made for the session's time zone as it is then (Django's relabels
    what psycopg's reads, config/postgresql/timestamps.py): after SET TIME ZONE the values come
    back as psycopg's cursor gives them, not as the kept loader would."""
    sql = "SELECT %s::timestamptz"
    moment = [datetime(2026, 1, 2, 12, tzinfo=UTC)]
    with rows.cursor() as cursor:
        assert cursor.execute(sql, moment).fetchone()[0] == moment[0]
    kept = lean._kept(connection.connection)
    with connection.connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Tokyo'")
        expected = cursor.execute(sql, moment).fetchone()[0]
    try:
        with rows.cursor() as cursor:
            got = cursor.execute(sql, moment).fetchone()[0]
        assert (got, got.tzinfo) == (expected, expected.tzinfo)
        assert lean._kept(connection.connection) is not kept
    finally:
        with connection.connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")


def test_the_kept_statements_are_bounded_and_given_their_own_parameters(db, monkeypatch) -> None:
    monkeypatch.setattr(lean._Kept, "_KEPT_STATEMENTS", 3)
    connection.ensure_connection()
    kept = lean._kept(connection.connection)
    kept.queries.clear()
    for n in range(7):
        with rows.cursor() as cursor:
            assert cursor.execute(f"SELECT {n}, %s::int", [n * 10]).fetchone() == (n, n * 10)
            assert cursor.execute(f"SELECT {n}, %s::int", [n * 11]).fetchone() == (n, n * 11)  # kept, new values
            assert cursor.execute(f"SELECT {n}, 5 % 3").fetchone() == (n, 2)  # no parameters: not kept
        assert 1 <= len(kept.queries) <= 3
    assert kept.queries["SELECT 6, %s::int"].query == b"SELECT 6, $1::int"


def test_a_failing_first_statement_keeps_nothing_and_the_connection_goes_on(table) -> None:
    with rows.cursor() as cursor:
        cursor.execute("INSERT INTO lean_t VALUES (1, 1, 'kept')")
    with pytest.raises(IntegrityError), transaction.atomic(durable=True), rows.cursor() as cursor:
        cursor.execute("INSERT INTO lean_t VALUES (1, 1, 'duplicate')")  # BEGIN went; this failed
    assert status() == IDLE
    with pytest.raises(IntegrityError), transaction.atomic(durable=True), rows.cursor() as cursor:
        cursor.execute("INSERT INTO lean_t VALUES (2, 1, 'second')")
        cursor.execute("INSERT INTO lean_t VALUES (1, 1, 'duplicate')")
    with transaction.atomic(durable=True), rows.cursor() as cursor:
        assert cursor.execute("SELECT id, note FROM lean_t").fetchall() == [(1, "kept")]


def _prepared_on_server() -> set[str]:
    with connection.connection.cursor() as cursor:
        return {name for (name,) in cursor.execute("SELECT name FROM pg_prepared_statements").fetchall()}


def test_it_is_prepared_like_a_cursor_s_statement_with_begin_in_the_same_round_trip(table) -> None:
    raw = connection.connection
    sql = "SELECT %s::int + 1"
    threshold = raw.prepare_threshold
    for n in range(threshold + 1):  # the last run prepares it: BEGIN, PREPARE, EXECUTE, one Sync
        with transaction.atomic(durable=True), rows.cursor() as cursor:
            assert cursor.execute(sql, [n]).fetchone() == (n + 1,)
    names = [name.decode() for name in raw._prepared._names.values()]
    assert len(names) == 1 and names[0] in _prepared_on_server()
    with connection.connection.cursor() as cursor:  # psycopg's own cursor uses what was prepared
        assert cursor.execute(sql, [41]).fetchone() == (42,)
    with connection.connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # psycopg forgets its names, as after any DEALLOCATE ALL
    assert not raw._prepared._names
    for n in range(threshold + 1):
        with transaction.atomic(durable=True), rows.cursor() as cursor:
            assert cursor.execute(sql, [n]).fetchone() == (n + 1,)
    assert _prepared_on_server() == {name.decode() for name in raw._prepared._names.values()}


def test_what_psycopg_s_cache_evicts_is_deallocated_on_the_server(table) -> None:
    raw = connection.connection
    cache = raw._prepared
    with raw.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # a clean slate: psycopg forgets its names too
    cache.prepared_max, was = 1, cache.prepared_max
    try:
        for sql in ("SELECT %s::int", "SELECT %s::text"):
            for n in range(raw.prepare_threshold + 1):
                with rows.cursor() as cursor:
                    cursor.execute(sql, [n])
        assert len(_prepared_on_server()) == 2
        with rows.cursor() as cursor:
            cursor.execute("SELECT %s::bigint", [1])  # a new entry: psycopg evicts the oldest name
        on_server = _prepared_on_server()
        assert len(on_server) == 1 and on_server == {name.decode() for name in cache._names.values()}
    finally:
        cache.prepared_max = was


def test_a_psycopg_without_these_internals_goes_the_usual_way() -> None:
    class Bare:
        pass

    assert lean.usable(Bare()) is False
