"""wallet/rows.py writes and reads exactly what the ORM would, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import make_player
from wallet import rows
from wallet.models import Bet, IdempotencyRecord

pytestmark = pytest.mark.django_db


def _bet(player, external_id: str) -> Bet:
    return Bet(
        provider="igpx",
        external_id=external_id,
        player=player,
        currency="EUR",
        stake=Decimal("12.34"),
        stake_real=Decimal("10"),
        stake_bonus=Decimal("2.34"),
        odds=Decimal("1.750000"),
        selections=[{"event_id": "sr:match:1", "odds": "1.75"}],
    )


def test_insert_and_get_round_trip_like_the_orm():
    player = make_player("rows-alice")
    bet = rows.insert(_bet(player, "b-1"))
    assert bet.pk and bet.placed_at is not None and not bet._state.adding

    via_orm = Bet.objects.get(pk=bet.pk)
    via_rows = rows.get(Bet, lock=True, id=bet.pk)
    for field in Bet._meta.concrete_fields:
        assert getattr(via_rows, field.attname) == getattr(via_orm, field.attname), field.name
    assert via_rows.stake == Decimal("12.34") and isinstance(via_rows.stake, Decimal)
    assert via_rows.selections == [{"event_id": "sr:match:1", "odds": "1.75"}]
    assert rows.get(Bet, provider="igpx", external_id="missing") is None


def test_update_writes_only_the_named_fields():
    player = make_player("rows-bob")
    bet = rows.insert(_bet(player, "b-2"))
    bet.status, bet.payout, bet.result = Bet.Status.SETTLED, Decimal("21.60"), "won"
    bet.currency = "XXX"  # not named: must not be written
    rows.update(bet, ["status", "payout", "result"])
    stored = Bet.objects.get(pk=bet.pk)
    assert (stored.status, stored.payout, stored.result, stored.currency) == ("settled", Decimal("21.60"), "won", "EUR")


def test_insert_many_skips_conflicting_rows():
    def record(external_id: str, response: str) -> IdempotencyRecord:
        return IdempotencyRecord(
            provider="p", external_id=external_id, operation="tx", fingerprint="f", response=response, outcome="applied"
        )

    rows.insert_many([record("a", "first"), record("b", "first")], ignore_conflicts=True)
    rows.insert_many([record("a", "second"), record("c", "second")], ignore_conflicts=True)
    stored = dict(IdempotencyRecord.objects.values_list("external_id", "response"))
    assert stored == {"a": "first", "b": "first", "c": "second"}
