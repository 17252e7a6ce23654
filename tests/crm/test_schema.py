"""The outbox's indexes: only those a query uses (each is written on every insert and on each
delivery's updates), and a migration to them that PostgreSQL runs without a long write lock."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from crm.models import OutboxEvent
from tests.factories import make_outbox_event, make_player

TABLE = OutboxEvent._meta.db_table

# What a query reads each index for is in crm/models.py.
EXPECTED_POSTGRESQL = {
    "crm_outboxevent_pkey": "UNIQUE INDEX crm_outboxevent_pkey ON public.crm_outboxevent USING btree (id)",
    "crm_outbox_activity_id_unique": "UNIQUE INDEX crm_outbox_activity_id_unique ON public.crm_outboxevent"
    " USING btree (activity_id)",
    "crm_outbox_rolled_back_once": "UNIQUE INDEX crm_outbox_rolled_back_once ON public.crm_outboxevent"
    " USING btree (reverses_id) WHERE (reverses_id IS NOT NULL)",
    "crm_outbox_by_bet": "INDEX crm_outbox_by_bet ON public.crm_outboxevent USING btree (bet_id)"
    " WHERE (bet_id IS NOT NULL)",
    "crm_outbox_unlinked_by_txn": "INDEX crm_outbox_unlinked_by_txn ON public.crm_outboxevent"
    " USING btree (transaction_id) WHERE unlinked",
    "crm_outboxevent_player_id_322373b1": "INDEX crm_outboxevent_player_id_322373b1 ON public.crm_outboxevent"
    " USING btree (player_id)",
    "crm_outbox_open_per_player": "INDEX crm_outbox_open_per_player ON public.crm_outboxevent"
    " USING btree (player_id, id) WHERE ((status)::text = ANY ((ARRAY['pending'::character varying,"
    " 'sending'::character varying, 'dead'::character varying])::text[]))",
    "crm_outbox_open": "INDEX crm_outbox_open ON public.crm_outboxevent USING btree (id)"
    " WHERE ((status)::text = ANY ((ARRAY['pending'::character varying, 'sending'::character varying,"
    " 'dead'::character varying])::text[]))",
}


def _postgresql_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexname, i.indexdef, x.indisvalid FROM pg_indexes i"
            " JOIN pg_class c ON c.relname = i.indexname JOIN pg_index x ON x.indexrelid = c.oid"
            " WHERE i.tablename = %s",
            [TABLE],
        )
        rows = cursor.fetchall()
    assert all(valid for _, _, valid in rows), "an index was left INVALID"
    return {name: definition.removeprefix("CREATE ") for name, definition, _ in rows}


@pytest.mark.django_db
def test_the_outbox_has_only_the_indexes_its_queries_use(postgres_only):
    assert _postgresql_indexes() == EXPECTED_POSTGRESQL


@pytest.mark.django_db
def test_the_model_declares_every_index_and_constraint_the_database_has():
    """Whatever the vendor: the names the migration state knows are the ones in the database."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, TABLE)
    meta = {i.name for i in OutboxEvent._meta.indexes} | {c.name for c in OutboxEvent._meta.constraints}
    assert meta <= set(found)
    unique = {name for name, c in found.items() if c["unique"] and not c["primary_key"]}
    assert unique == {"crm_outbox_activity_id_unique", "crm_outbox_rolled_back_once"}


def _row(player, activity_id: str, reverses: OutboxEvent | None = None) -> OutboxEvent:
    status = OutboxEvent.EventStatus.ROLLBACK if reverses else OutboxEvent.EventStatus.APPROVED
    return make_outbox_event(player, activity_id, event_status=status, reverses=reverses)


@pytest.mark.django_db(transaction=True)
def test_the_migration_goes_back_and_forth_and_keeps_its_guarantees():
    """0002 undone with Django's operations and done again (on PostgreSQL with its own
    CONCURRENTLY statements, outside a transaction): the same indexes, and activity ids and
    rollbacks still unique."""
    executor = MigrationExecutor(connection)
    executor.migrate([("crm", "0001_initial")])
    executor.loader.build_graph()
    executor.migrate([("crm", "0002_outbox_fewer_indexes")])
    if connection.vendor == "postgresql":
        assert _postgresql_indexes() == EXPECTED_POSTGRESQL

    player = make_player("schema-alice")
    first = _row(player, "a-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(player, "a-1")
    _row(player, "a-1-rollback", reverses=first)
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(player, "a-1-rollback-again", reverses=first)
    _row(player, "a-2")  # rows that reverse nothing do not collide
    _row(player, "a-3")
