"""config/postgresql/commit.py: a transaction's last statement and its COMMIT in one round trip,
with the same outcome as sending them one after the other: committed and idle on success,
nothing kept and a usable connection on any failure, psycopg's statement cache kept true."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from psycopg import pq

from tests.factories import fund, make_player
from tests.wallet.igpx.conftest import SECRET, Provider
from wallet import rows
from wallet.models import IdempotencyRecord

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: libpq's pipeline mode")

INSERT = "INSERT INTO piped_t (id, note, parent_id) VALUES (%s, %s, %s)"


@pytest.fixture
def table(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE piped_parent (id int PRIMARY KEY)")
        cursor.execute(
            "CREATE TABLE piped_t (id int PRIMARY KEY, note text NOT NULL, parent_id int"
            " REFERENCES piped_parent DEFERRABLE INITIALLY DEFERRED)"
        )
        cursor.execute("INSERT INTO piped_parent VALUES (1)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE piped_t, piped_parent")


def ids() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM piped_t ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def idle() -> bool:
    return connection.connection.pgconn.transaction_status == pq.TransactionStatus.IDLE


def test_the_last_statement_and_commit_go_together_and_the_hooks_run(table) -> None:
    hooks = []
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(INSERT, [1, "first", None])
        transaction.on_commit(lambda: hooks.append("committed"))
        assert rows.execute_and_commit(INSERT, [2, "last", 1])
        assert idle()  # committed already; the block's own commit has nothing left to do
    assert ids() == [1, 2]
    assert hooks == ["committed"]


def test_a_failing_last_statement_keeps_nothing_and_the_connection_goes_on(table) -> None:
    with pytest.raises(IntegrityError), transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(INSERT, [1, "first", None])
        rows.execute_and_commit(INSERT, [2, None, None])  # note is NOT NULL
    assert ids() == []
    with transaction.atomic(durable=True):
        assert ids() == []  # psycopg opens the transaction with the block's first statement
        assert rows.execute_and_commit(INSERT, [3, "after", None])
    assert ids() == [3]


def test_a_failing_commit_keeps_nothing_and_the_connection_goes_on(table) -> None:
    # A deferred foreign key is checked by COMMIT itself.
    with pytest.raises(IntegrityError, match="piped_t_parent_id"), transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(INSERT, [1, "first", None])
        rows.execute_and_commit(INSERT, [2, "orphan", 99])
    assert ids() == []
    assert idle()
    with transaction.atomic(durable=True):
        assert ids() == []
        assert rows.execute_and_commit(INSERT, [3, "after", 1])
    assert ids() == [3]


def test_not_before_the_transaction_s_first_statement(table) -> None:
    # No BEGIN has been sent yet (psycopg sends it with the first statement): the caller runs it.
    with transaction.atomic(durable=True):
        assert not rows.execute_and_commit(INSERT, [1, "x", None])


def test_it_is_prepared_like_a_cursor_s_statement_and_survives_psycopg_forgetting(table) -> None:
    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO piped_t%%'")
            return cursor.fetchone()[0]

    for n in range(1, 8):  # psycopg prepares a statement on its 5th run
        with transaction.atomic(durable=True):
            ids()
            assert rows.execute_and_commit(INSERT, [n, "x", None])
    assert prepared() == 1
    key = next(key for key in connection.connection._prepared._names if key[0].startswith(b"INSERT INTO piped_t"))
    assert key
    connection.connection.execute("DEALLOCATE ALL")  # psycopg forgets its names with the server's
    assert prepared() == 0 and not connection.connection._prepared._names
    for n in range(8, 16):
        with transaction.atomic(durable=True):
            ids()
            assert rows.execute_and_commit(INSERT, [n, "y", None])
    assert prepared() == 1
    assert ids() == list(range(1, 16))


def test_not_in_a_savepoint(table) -> None:
    with transaction.atomic(durable=True):
        ids()
        with transaction.atomic():
            assert not rows.execute_and_commit(INSERT, [1, "x", None])


@pytest.mark.django_db
def test_not_inside_a_test_s_wrapping_transaction() -> None:
    with transaction.atomic(durable=True):
        IdempotencyRecord.objects.exists()
        assert not rows.execute_and_commit("SELECT 1", [])


@pytest.mark.django_db(transaction=True)
def test_a_callback_answers_and_commits_in_its_last_round_trip(client, settings, monkeypatch) -> None:
    settings.IGPX_SECURITY_HASH = SECRET
    provider = Provider(client)
    alice = make_player("alice")
    fund(alice, "100.00")
    sent = []
    from config.postgresql import commit

    send = commit.execute_and_commit

    def recording(connection, sql, params) -> None:
        sent.append(sql)
        send(connection, sql, params)

    monkeypatch.setattr(commit, "execute_and_commit", recording)
    assert provider.bet("b-1", "1.00").error is None
    assert provider.result("r-1", "3.00").error is None
    assert provider.result("r-1", "3.00").error is None  # a replay: nothing to store
    monkeypatch.undo()
    assert len(sent) == 2 and all("UPDATE wallet_idempotencyrecord" in sql for sql in sent)
    stored = IdempotencyRecord.objects.filter(provider="igpx").order_by("id")
    assert [record.outcome for record in stored] == ["applied", "applied"]
    assert idle()


def test_a_psycopg_without_these_internals_goes_the_usual_way() -> None:
    from types import SimpleNamespace

    from config.postgresql import commit

    django_side = {"in_atomic_block": True, "savepoint_ids": [], "atomic_blocks": [1], "needs_rollback": False}
    assert not commit.usable(SimpleNamespace(connection=object(), **django_side))


def test_a_connection_lost_before_the_pair_fails_that_transaction_only(table) -> None:
    from tests.test_db_recovery import backend_pid, terminate

    with pytest.raises(OperationalError), transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(INSERT, [1, "first", None])
        terminate(backend_pid())  # as a restart would, mid-transaction: the provider retries
        rows.execute_and_commit(INSERT, [2, "last", None])
    # The next transaction runs on a new connection, and nothing of the lost one stayed.
    with transaction.atomic(durable=True):
        assert ids() == []
        assert rows.execute_and_commit(INSERT, [3, "after", None])
    assert ids() == [3]
