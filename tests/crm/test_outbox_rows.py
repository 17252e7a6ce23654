"""The outbox subscriber writes its rows with its own INSERT (crm.outbox.COLUMNS, CONSTANTS), not
through Model instances (issue #18): what it sends and what is stored must be what Model.save()
would write for the same row, for every kind of wallet event, on either database."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from crm import outbox
from crm.models import OutboxEvent
from tests.crm.conftest import SELECTION, place, rollback, settle, unsettle
from tests.crm.test_mapping import _igpx_reversal
from tests.factories import fund, make_player
from wallet import events
from wallet.igpx import protocol as igpx_protocol
from wallet.igpx import services as igpx_services
from wallet.models import Settlement
from wallet.services.postings import bet_settle_apply

pytestmark = pytest.mark.django_db

ALL = tuple(f.attname for f in OutboxEvent._meta.concrete_fields if not f.primary_key)


def _orm(values: dict) -> dict:
    """What Model.save() would send for a new row with `values`, by attname."""
    made = OutboxEvent(**values)
    fields = [f for f in OutboxEvent._meta.concrete_fields if not f.primary_key]
    return {f.attname: f.get_db_prep_save(f.pre_save(made, True), connection) for f in fields}


def _stored(row: OutboxEvent) -> dict:
    return {name: getattr(row, name) for name in ALL}


def test_the_insert_names_every_column_once_and_starts_rows_at_the_model_s_defaults():
    assert sorted([*outbox.COLUMNS, *outbox.CONSTANTS]) == sorted(ALL)
    for name, value in outbox.CONSTANTS.items():
        field = OutboxEvent._meta.get_field(name)
        assert value == field.get_default(), name
    sql = outbox._insert_sql(2)
    assert sql.count("'pending', 0, '', NULL, '', '', NULL)") == 2


def _igpx(player, transaction_id: str, action: str, amount: str) -> None:
    body = (
        f'{{"transaction_id":"{transaction_id}","action":"{action}","user_id":"{player.external_id}",'
        f'"currency":"EUR","amount":"{amount}"}}'
    )
    igpx_services.transaction_process(request=igpx_protocol.parse_transaction(body.encode()), raw=body)


def test_every_kind_of_event_writes_what_model_save_would(monkeypatch):
    planned: list[tuple] = []
    plan = outbox._plan

    def recording(event, ctx):
        rows = plan(event, ctx)
        planned.extend(rows)
        return rows

    monkeypatch.setattr(outbox, "_plan", recording)
    staff = get_user_model().objects.create(username="rows-staff", is_staff=True)
    alice = make_player("rows-alice")
    fund(alice, "100.00", bonus="5.00")
    carol = make_player("rows-carol", currencies=("USD",))
    fund(carol, "50.00", currency="USD")
    placed = place(alice, "10.00", "r-1", odds=Decimal("2.50"), selections=[SELECTION])  # Bet/Approved
    settle(placed.bet.pk, "25.00", "won")  # Settlement/Approved
    settle(placed.bet.pk, "10.00", "refund")  # rollback of the payout in force, then the new settlement
    unsettle(placed.bet.pk)  # Settlement/Rollback
    settle(placed.bet.pk, "0", "lost")
    rollback(placed.bet.pk)  # Settlement/Rollback, then Bet/Rollback
    other = place(carol, "4.00", "r-2", currency="USD", selections=[SELECTION])  # another rate
    settle(other.bet.pk, "8.00", "cashout")
    with transaction.atomic():  # a staff reversal to nothing: only the rollback
        bet_settle_apply(bet_id=other.bet.pk, amount=Decimal(0), kind=Settlement.Kind.REVERSAL, actor_id=staff.pk)
    _igpx(alice, "rows-b", "bet", "2.50")  # through the provider: held back (write_behind) on PostgreSQL
    _igpx(alice, "rows-r", "result", "7.25")  # an unlinked result
    _igpx_reversal(alice, OutboxEvent.objects.get(source=events.RESULT_CREDITED).transaction_id, "rows-rb")

    stored = {row.activity_id: row for row in OutboxEvent.objects.all()}
    kinds = {(r.event_type, r.event_status, r.unlinked, r.source, r.currency) for r in stored.values()}
    assert len(planned) == len(stored) == 14 and len(kinds) == 12, kinds
    assert any(row.balance_before != row.balance_after and row.reverses_id for row in stored.values())
    for row in planned:
        values = dict(zip(outbox.COLUMNS, row, strict=True))
        expected = _orm(values)
        sent = dict(zip(outbox.COLUMNS, outbox.insert_params(connection, [row]), strict=True))
        for name, value in sent.items():
            assert value == expected[name] and type(value) is type(expected[name]), (values["activity_id"], name)
        for name, value in outbox.CONSTANTS.items():
            assert value == expected[name], name
        made = OutboxEvent(**values)
        assert _stored(stored[values["activity_id"]]) == {name: getattr(made, name) for name in ALL}
