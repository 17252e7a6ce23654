"""wallet.rows.build: a new instance made without Model.__init__ is the ORM's, field for field,
and is saved and read back identically (issue #18: the settlement step and the CRM outbox rows)."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from crm.models import OutboxEvent
from tests.factories import make_player
from wallet import rows
from wallet.models import Bet, Settlement

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _bet(player) -> Bet:
    return rows.insert(
        Bet(
            provider="betsy",
            external_id="build-1",
            player=player,
            currency="EUR",
            stake=Decimal("2.50"),
            stake_real=Decimal("2.50"),
            stake_bonus=Decimal(0),
            selections=[],
        )  # fmt: skip
    )


def _step_values(bet: Bet) -> dict:
    return {
        "bet_id": bet.pk,
        "player_id": bet.player_id,
        "kind": Settlement.Kind.SETTLE,
        "result": "won",
        "amount": Decimal("5.00"),
        "previous_amount": Decimal(0),
        "status_after": Bet.Status.SETTLED,
        "external_id": "build-1",
    }


def test_a_built_settlement_is_the_orm_s_and_saves_and_reads_back_identically():
    bet = _bet(make_player("build-alice"))
    values = _step_values(bet)
    built = rows.build(Settlement, {"bet": bet}, **values)
    made = Settlement(bet=bet, **{k: v for k, v in values.items() if k != "bet_id"})
    assert _fields(built) == _fields(made)
    assert built._state.adding and built._state.db is None and built.pk is None
    assert built.bet is bet  # cached, as Settlement(bet=bet) caches it: no query
    with mock.patch("django.utils.timezone.now", return_value=timezone.now()):  # created_at: auto_now_add
        assert rows.new_row(built).params == rows.new_row(made).params

    rows.insert(built)
    rows.insert(made)
    one, two = Settlement.objects.get(pk=built.pk), Settlement.objects.get(pk=made.pk)
    assert {**_fields(one), "id": 0, "created_at": 0} == {**_fields(two), "id": 0, "created_at": 0}
    assert one.amount == Decimal("5.00") and one.created_by_id is None and one.transaction_id is None


def test_a_built_outbox_row_takes_the_defaults_model_init_would():
    player = make_player("build-bob")
    now = timezone.now()
    values = {"activity_id": "a-1", "event_type": "Bet", "event_status": "Approved", "player_id": player.pk,
              "currency": "EUR", "source": "bet_placed", "occurred_at": now, "next_attempt_at": now,
              "balance_before": Decimal("1.00"), "balance_after": Decimal("1.00")}  # fmt: skip
    built = rows.build(OutboxEvent, None, **values)
    made = OutboxEvent(**values)
    assert _fields(built) == _fields(made)
    built.transaction_id = 7  # a foreign key's attname set afterwards, as _plan does
    assert built.transaction_id == 7
    built.transaction_id = None
    rows.insert_many([built])
    stored = OutboxEvent.objects.get(activity_id="a-1")
    assert {**_fields(stored), "id": None} == {**_fields(made), "id": None}


def test_a_field_name_that_is_not_an_attname_is_refused():
    bet = _bet(make_player("build-carol"))
    with pytest.raises(TypeError, match="bet"):
        rows.build(Settlement, None, bet=bet, player_id=bet.player_id)


@pytest.mark.parametrize("signal", [pre_init, post_init])
def test_init_receivers_still_run_and_cached_objects_are_kept(signal):
    bet = _bet(make_player("build-dave"))
    seen: list = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    signal.connect(receiver, sender=Settlement)
    try:
        built = rows.build(Settlement, {"bet": bet}, **_step_values(bet))
    finally:
        signal.disconnect(receiver, sender=Settlement)
    assert seen == [Settlement]
    assert built.bet is bet and built.bet_id == bet.pk and built._state.adding


def test_a_placed_bet_is_built_without_model_init_and_is_the_orm_s():
    """postings.bet_place_apply builds its Bet with rows.build (both providers' every bet): the
    same fields Bet(...) would hold, stored as such."""
    from tests.factories import fund
    from wallet.selectors import wallet_get
    from wallet.services.postings import bet_place_apply

    player = make_player("build-erin")
    fund(player, "10.00")
    legs = [{"event": "A v B", "odds": "1.50"}]
    with mock.patch.object(Bet, "__init__", side_effect=AssertionError("Bet.__init__ on a placement")):
        placed = bet_place_apply(
            provider="betsy",
            external_id="build-erin-1",
            wallet=wallet_get(external_id="build-erin", currency="EUR"),
            amount=Decimal("2.50"),
            odds=Decimal("1.50"),
            bet_type=Bet.BetType.SINGLE,
            selections=legs,
            brand="b",
        )
    made = Bet(provider="betsy", external_id="build-erin-1", player_id=player.pk, brand="b", currency="EUR",
               stake=Decimal("2.50"), payout=Decimal(0), status=Bet.Status.OPEN, result="", odds=Decimal("1.50"),
               bet_type=Bet.BetType.SINGLE, selections=legs, stake_real=Decimal("2.50"), stake_bonus=Decimal(0))  # fmt: skip
    ignored = {"id": None, "placed_at": None}
    assert {**_fields(placed.bet), **ignored} == {**_fields(made), **ignored}
    stored = Bet.objects.get(pk=placed.bet.pk)
    assert {**_fields(stored), **ignored} == {**_fields(made), **ignored}


@pytest.mark.parametrize("amount, result", [("3.00", "paid"), ("0", "lost")])
def test_an_igpx_result_s_settlement_is_built_without_model_init_and_is_the_orm_s(amount, result):
    """wallet/igpx/services._result_apply builds its Settlement with rows.build (every IGPX
    result, issue #18): stored as Settlement(bet=None, ...) would be."""
    from wallet.igpx import protocol as igpx_protocol
    from wallet.igpx import services as igpx_services

    player = make_player("build-igpx")
    body = f'{{"transaction_id":"r-{result}","action":"result","user_id":"build-igpx","currency":"EUR","amount":"{amount}"}}'
    with mock.patch.object(Settlement, "__init__", side_effect=AssertionError("Settlement.__init__ on a result")):
        answer = igpx_services.transaction_process(request=igpx_protocol.parse_transaction(body.encode()), raw=body)
    assert '"error": null' in answer
    stored = Settlement.objects.get(external_id=f"r-{result}")
    made = Settlement(bet=None, player_id=player.pk, kind=Settlement.Kind.RESULT, result=result,
                      amount=Decimal(amount), external_id=f"r-{result}", transaction_id=stored.transaction_id)  # fmt: skip
    ignored = {"id": None, "created_at": None}
    assert {**_fields(stored), **ignored} == {**_fields(made), **ignored}
    assert (stored.transaction_id is None) == (result == "lost")


@pytest.mark.parametrize("target", ["bet", "nothing"])
def test_an_igpx_rollback_s_settlement_is_built_without_model_init_and_is_the_orm_s(target):
    """A rollback of a bet (its step, postings.bet_rollback_apply) and of a transaction never seen
    (recorded, moving nothing: _rollback_record)."""
    from tests.factories import fund
    from wallet.igpx import protocol as igpx_protocol
    from wallet.igpx import services as igpx_services

    player = make_player("build-igpx-rb")
    fund(player, "10.00")
    bet = None
    if target == "bet":
        body = b'{"transaction_id":"rb-bet","action":"bet","user_id":"build-igpx-rb","currency":"EUR","amount":"2.00"}'
        igpx_services.transaction_process(request=igpx_protocol.parse_transaction(body), raw=body.decode())
        bet = Bet.objects.get(external_id="rb-bet")
    body = (b'{"transaction_id":"rb-1","action":"rollback","user_id":"build-igpx-rb","currency":"EUR","amount":"2.00",'
            b'"rollback_transaction_id":"' + (b"rb-bet" if bet else b"never-seen") + b'"}')  # fmt: skip
    with mock.patch.object(Settlement, "__init__", side_effect=AssertionError("Settlement.__init__ on a rollback")):
        answer = igpx_services.rollback_process(request=igpx_protocol.parse_rollback(body), raw=body.decode())
    assert '"error": null' in answer
    stored = Settlement.objects.get(external_id="rb-1")
    made = Settlement(bet=bet, player_id=player.pk, kind=Settlement.Kind.ROLLBACK, amount=Decimal(0),
                      previous_amount=stored.previous_amount, external_id="rb-1", transaction_id=stored.transaction_id,
                      status_after=Bet.Status.ROLLED_BACK if bet else "")  # fmt: skip
    ignored = {"id": None, "created_at": None}
    assert {**_fields(stored), **ignored} == {**_fields(made), **ignored}
    assert stored.bet_id == (bet.pk if bet else None)
