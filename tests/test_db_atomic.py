"""config/postgresql/atomic.py: the hot path's durable transaction behaves as Django's
`transaction.atomic(durable=True)` in every case.

Each scenario runs twice, once in Django's `Atomic` and once in `rows.durable()` having taken
its short way, and must give the same: what is kept, which on-commit hooks run, what is raised,
and the connection's state afterwards (autocommit on in Django and psycopg, no block open, idle
on the server)."""

from __future__ import annotations

import django
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from psycopg import pq

from config.postgresql import atomic
from config.postgresql.atomic import Durable
from config.postgresql.base import server_closed
from tests import test_db_commit
from tests.factories import fund, make_player
from tests.test_db_commit import INSERT, ids
from tests.test_db_recovery import backend_pid, terminate
from tests.waiting import wait_for
from tests.wallet.igpx.conftest import SECRET, Provider
from wallet import rows

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="Touchline's PostgreSQL backend")

table = test_db_commit.table  # the scratch tables piped_t and piped_parent (a deferred foreign key)

AT_REST = {
    "autocommit": True,
    "psycopg autocommit": True,
    "in atomic block": False,
    "atomic blocks": 0,
    "savepoints": 0,
    "needs rollback": False,
    "hooks pending": 0,
    "server": "IDLE",
}


@pytest.fixture(params=["django", "short way"])
def durable(request, table):
    """Opens a durable block: Django's, or `rows.durable()` (checked to have taken its short way)."""
    if request.param == "django":
        yield lambda: transaction.atomic(durable=True)
        return
    opened: list[Durable] = []

    def open_block() -> Durable:
        block = rows.durable()
        assert isinstance(block, Durable)
        opened.append(block)
        return block

    yield open_block
    assert opened and all(block._short for block in opened), "the short way was not taken"


def insert(*ids: int, parent: int | None = None) -> None:
    with connection.cursor() as cursor:
        for id_ in ids:
            cursor.execute(INSERT, [id_, "note", parent])


def state() -> dict:
    raw = connection.connection
    return {
        "autocommit": connection.autocommit,
        "psycopg autocommit": raw.autocommit,
        "in atomic block": connection.in_atomic_block,
        "atomic blocks": len(connection.atomic_blocks),
        "savepoints": len(connection.savepoint_ids),
        "needs rollback": connection.needs_rollback,
        "hooks pending": len(connection.run_on_commit),
        "server": pq.TransactionStatus(raw.pgconn.transaction_status).name,
    }


def test_a_block_that_ends_commits_and_runs_its_hooks_once(durable) -> None:
    hooks: list[str] = []
    with durable():
        insert(1, 2)
        transaction.on_commit(lambda: hooks.append("committed"))
        assert hooks == []
    assert state() == AT_REST
    assert (ids(), hooks) == ([1, 2], ["committed"])


def test_a_block_whose_last_statement_carried_the_commit(durable) -> None:
    hooks: list[str] = []
    with durable():
        insert(1)
        transaction.on_commit(lambda: hooks.append("committed"))
        assert rows.execute_and_commit(INSERT, [2, "last", None])
    assert state() == AT_REST
    assert (ids(), hooks) == ([1, 2], ["committed"])


def test_a_block_that_sent_nothing_still_runs_its_hooks(durable) -> None:
    hooks: list[str] = []
    with durable():
        transaction.on_commit(lambda: hooks.append("committed"))
    assert state() == AT_REST
    assert hooks == ["committed"]


def test_an_error_rolls_everything_back_drops_the_hooks_and_propagates(durable) -> None:
    hooks: list[str] = []
    with pytest.raises(ValueError, match="declined"), durable():
        insert(1)
        transaction.on_commit(lambda: hooks.append("committed"))
        raise ValueError("declined")
    assert state() == AT_REST
    assert (ids(), hooks) == ([], [])


def test_a_failing_statement_keeps_nothing_and_the_next_block_works(durable) -> None:
    with pytest.raises(IntegrityError), durable():
        insert(1)
        insert(1)
    assert state() == AT_REST
    with durable():
        insert(2)
    assert ids() == [2]


def test_a_nested_block_that_fails_undoes_only_its_own_work_and_hooks(durable) -> None:
    hooks: list[str] = []
    with durable():
        insert(1)
        transaction.on_commit(lambda: hooks.append("outer"))
        with pytest.raises(ValueError), transaction.atomic():
            insert(2)
            transaction.on_commit(lambda: hooks.append("inner"))
            raise ValueError
        insert(3)
    assert state() == AT_REST
    assert (ids(), hooks) == ([1, 3], ["outer"])


def test_a_nested_block_without_savepoint_that_fails_rolls_the_whole_block_back_quietly(durable) -> None:
    hooks: list[str] = []
    with durable():
        insert(1)
        transaction.on_commit(lambda: hooks.append("outer"))
        with pytest.raises(ValueError), transaction.atomic(savepoint=False):
            raise ValueError
        assert transaction.get_rollback()
    assert state() == AT_REST
    assert (ids(), hooks) == ([], [])


@pytest.mark.parametrize("last", ["a statement of its own", "with the commit"])
def test_a_failing_commit_keeps_nothing_and_the_next_block_works(durable, last) -> None:
    hooks: list[str] = []
    # A deferred foreign key is checked by COMMIT itself.
    with pytest.raises(IntegrityError, match="piped_t_parent_id"), durable():
        insert(1, parent=1)
        transaction.on_commit(lambda: hooks.append("committed"))
        if last == "with the commit":
            rows.execute_and_commit(INSERT, [2, "orphan", 99])
        else:
            insert(2, parent=99)
    assert state() == AT_REST
    assert (ids(), hooks) == ([], [])
    with durable():
        insert(3, parent=1)
    assert ids() == [3]


def test_a_connection_closed_inside_the_block_is_dropped_and_the_next_block_opens_one(durable) -> None:
    hooks: list[str] = []
    with durable():
        insert(1)
        transaction.on_commit(lambda: hooks.append("committed"))
        connection.close()
    assert connection.connection is None
    assert hooks == []
    with durable():
        insert(2)
    assert state() == AT_REST
    assert ids() == [2]


def test_a_connection_that_dies_inside_the_block_fails_it_and_the_next_block_works(durable) -> None:
    with pytest.raises(OperationalError), durable():
        insert(1)
        terminate(backend_pid())
        insert(2)
    with durable():
        insert(3)
    assert state() == AT_REST
    assert ids() == [3]


def test_a_connection_the_server_closed_before_the_block_is_replaced_first(durable) -> None:
    before = backend_pid()
    terminate(before)
    wait_for(lambda: server_closed(connection.connection))
    with durable():
        insert(1)
    assert backend_pid() != before
    assert state() == AT_REST
    assert ids() == [1]


def test_it_cannot_be_nested_in_an_atomic_block_nor_hold_a_durable_one(table) -> None:
    with transaction.atomic(), pytest.raises(RuntimeError, match="durable atomic block cannot be nested"):
        with rows.durable():
            pass
    with rows.durable() as _, pytest.raises(RuntimeError, match="durable atomic block cannot be nested"):
        with transaction.atomic(durable=True):
            pass
    assert state() == AT_REST


def test_django_s_atomic_while_queries_are_logged(table) -> None:
    """Django's debug cursor records BEGIN and COMMIT, which only `Atomic` writes."""
    with CaptureQueriesContext(connection) as logged:
        block = rows.durable()
        with block:
            insert(1)
    assert not block._short
    sent = [query["sql"] for query in logged.captured_queries]
    assert (sent[0], sent[-1]) == ("BEGIN", "COMMIT")
    assert state() == AT_REST
    assert ids() == [1]


def test_the_short_way_is_bound_to_the_django_it_was_read_against(table, monkeypatch) -> None:
    """On another Django the short way is not taken; and this fails until someone rereads
    django/db/transaction.py and moves `DJANGO_READ` (the scenarios above compare outcomes,
    not every line of `Atomic`)."""
    assert django.VERSION[:2] == atomic.DJANGO_READ, "reread Django's Atomic, then move atomic.DJANGO_READ"
    monkeypatch.setattr(atomic, "_SAME_DJANGO", False)
    block = rows.durable()
    with block:
        insert(1)
    assert not block._short
    assert ids() == [1]


def test_inside_a_test_s_wrapping_transaction_it_is_a_savepoint(db) -> None:
    block = rows.durable()
    with pytest.raises(ValueError), block:
        connection.cursor().execute("CREATE TEMPORARY TABLE durable_tmp (id int)")
        raise ValueError
    assert not block._short
    assert connection.in_atomic_block  # the test's own block, still open


def test_a_callback_runs_in_the_short_way(client, settings, monkeypatch, transactional_db) -> None:
    settings.IGPX_SECURITY_HASH = SECRET
    fund(make_player("alice"), "100.00")
    taken: list[bool] = []
    short_way = atomic._short_way
    monkeypatch.setattr(atomic, "_short_way", lambda conn: taken.append(short_way(conn)) or taken[-1])
    provider = Provider(client)
    assert provider.bet("b-1", "1.00").error is None
    assert provider.bet("b-1", "1.00").error is None  # its retry, answered from the stored reply
    assert taken == [True, True]
    assert state() == AT_REST
