"""config.postgresql: a rollback keeps the connection's prepared statements (a declined bet
rolls back, and without this every decline made PostgreSQL parse and plan each hot statement
five more times)."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from tests.factories import fund, make_player
from tests.wallet.igpx.conftest import SECRET, Provider
from wallet.models import Player

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: psycopg's statement cache")


def server_statements() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def psycopg_statements() -> int:
    return len(connection.connection._prepared._names)


def test_the_project_uses_the_backend():
    assert type(connections[DEFAULT_DB_ALIAS]).__module__ == "config.postgresql.base"


@pytest.mark.django_db(transaction=True)
def test_a_declined_bet_keeps_the_prepared_statements(client, settings):
    settings.IGPX_SECURITY_HASH = SECRET
    provider = Provider(client)
    alice = make_player("alice")
    fund(alice, "100.00")
    for i in range(8):  # psycopg prepares a statement on its 5th run
        assert provider.bet(f"b-{i}", "1.00").error is None
    before = server_statements()
    assert before and psycopg_statements()

    declined = provider.bet("b-too-much", "1000.00")  # rolls its transaction back

    assert declined.error == "INSUFFICIENT_FUNDS"
    assert server_statements() >= before  # nothing was deallocated…
    assert psycopg_statements()  # …and psycopg still knows them
    assert provider.bet("b-after", "1.00").error is None  # and runs them


@pytest.mark.django_db(transaction=True)
def test_a_rollback_still_undoes_the_transaction():
    for i in range(6):
        Player.objects.filter(external_id=f"warm-{i}").exists()
    with pytest.raises(RuntimeError), transaction.atomic():
        make_player("ghost")
        raise RuntimeError("decline")
    assert not Player.objects.filter(external_id="ghost").exists()
    assert psycopg_statements()
    with transaction.atomic():  # the connection is idle again and a new transaction begins
        make_player("after")
    assert Player.objects.filter(external_id="after").exists()


@pytest.mark.django_db(transaction=True)
def test_a_savepoint_rollback_undoes_only_the_savepoint_and_keeps_the_statements():
    with transaction.atomic():
        make_player("kept")
        for i in range(6):
            Player.objects.filter(external_id=f"warm-{i}").exists()
        prepared = server_statements()
        with pytest.raises(RuntimeError), transaction.atomic():
            make_player("undone")
            raise RuntimeError("inner failure")
        assert server_statements() >= prepared
        make_player("later")
    names = set(Player.objects.values_list("external_id", flat=True))
    assert {"kept", "later"} <= names and "undone" not in names


@pytest.mark.django_db(transaction=True)
def test_rolling_back_an_idle_connection_is_a_no_op():
    connection.ensure_connection()
    connection.rollback()  # autocommit, outside any transaction: Django and psycopg do nothing
    assert Player.objects.count() >= 0
