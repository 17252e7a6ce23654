"""Confirmations, orders, exposure and P&L, following ProphetX's flow step by step:
ask → offers → price.confirm.new → accept/reject → order.finalized → order.settled → parlay.settled.
"""

from decimal import Decimal
from fractions import Fraction

import pytest

from parlays.models import BookEntry, Confirmation, ExposureReservation, Order, ParlaySettlement, ReconciliationIssue
from parlays.pricing import bettor_stake_for
from parlays.protocol import odds as am
from tests.parlays.conftest import frame

pytestmark = pytest.mark.django_db


def open_exposure(scope="total"):
    return sum(r.amount for r in ExposureReservation.objects.filter(state="reserved", scope=scope))


def quoted(desk, legs=None, stake="10"):
    legs = legs or [desk.line(0, 219, 4), desk.line(1, 225, 12)]
    parlay_id, outcome = desk.ask(legs, stake=stake)
    assert outcome == "quoted"
    return parlay_id, desk.offers()


def test_the_whole_lifecycle(desk):
    # 1. ProphetX asks; we offer a ladder.
    parlay_id, offers = quoted(desk)
    best = offers[0]["odds"]

    # 2. The bettor takes our best price for 150 of our risk: we accept, echoing the SP-side odds.
    order_uuid, outcome = desk.confirm(parlay_id, best, "150")
    assert outcome == "accept:delivered"
    url, body = desk.poster.calls[-1]
    assert url == "https://px.test/parlay/sp/order/confirm"
    assert body["action"] == "accept" and body["order_uuid"] == order_uuid
    assert body["confirmed_odds"] == -best
    assert "confirmed_stake" not in body  # the stake stands
    (entry,) = body["price_probability"]
    assert entry["max_risk"] == Decimal("200.00")
    product = Fraction(1)
    for line in entry["lines"]:
        product *= Fraction(line["probability"])
    assert abs(product - am.implied_probability(best)) < Fraction(1, 10**6)

    order = Order.objects.get(order_uuid=order_uuid)
    assert (order.status, order.risk, order.bettor_odds) == ("accepted", Decimal("150"), best)
    assert order.bettor_stake == bettor_stake_for(Decimal("150"), best)
    # Reserved: total once, each of the two events, each of the two outcomes.
    assert sorted(ExposureReservation.objects.values_list("scope", flat=True)) == [
        "event",
        "event",
        "outcome",
        "outcome",
        "total",
    ]
    assert open_exposure() == Decimal("150")

    # 3. ProphetX executes the order.
    assert desk.finalize(parlay_id, order_uuid, best, "150") == "finalized"
    order.refresh_from_db()
    assert order.status == "finalized" and not order.needs_review
    assert open_exposure() == Decimal("150")

    # 4. We win (settlement_status is from our side): P&L is the bettor's stake, exposure realised.
    assert desk.settle(parlay_id, order_uuid, "won", str(order.bettor_stake)) == "settled"
    order.refresh_from_db()
    assert (order.status, order.pnl) == ("settled", order.bettor_stake)
    assert open_exposure() == 0
    assert set(ExposureReservation.objects.values_list("state", flat=True)) == {"realised"}
    assert list(BookEntry.objects.values_list("kind", "amount")) == [("settlement", order.bettor_stake)]

    # 5. The parlay is settled and agrees with our book.
    desk.settle_parlay(parlay_id, "won", str(order.bettor_stake))
    assert ParlaySettlement.objects.get(parlay_id=parlay_id).consistent
    assert not ReconciliationIssue.objects.exists()


def test_a_lost_parlay_costs_our_risk(desk):
    parlay_id, offers = quoted(desk)
    order_uuid, _ = desk.confirm(parlay_id, offers[0]["odds"], "80")
    desk.finalize(parlay_id, order_uuid, offers[0]["odds"], "80")
    desk.settle(parlay_id, order_uuid, "lost", "80")  # profit as a size: signed by the status
    assert Order.objects.get(order_uuid=order_uuid).pnl == Decimal("-80")


def test_confirm_for_a_quote_we_never_made_is_rejected(desk):
    order_uuid, outcome = desk.confirm("83d790df-1ced-4490-a06a-7cb224faf59b", 500, "50")
    assert outcome == "reject:delivered"
    assert desk.poster.last() == {"order_uuid": order_uuid, "action": "reject"}
    confirmation = Confirmation.objects.get(order_uuid=order_uuid)
    assert (confirmation.action, confirmation.reason) == ("reject", "unknown_quote")
    assert not Order.objects.exists() and not ExposureReservation.objects.exists()


def test_a_repeated_confirm_gets_the_same_answer_and_reserves_once(desk):
    parlay_id, offers = quoted(desk)
    order_uuid, _ = desk.confirm(parlay_id, offers[0]["odds"], "100")
    first = desk.poster.last()
    _, again = desk.confirm(parlay_id, offers[0]["odds"], "100", order_uuid=order_uuid)
    assert again == "accept:delivered" and desk.poster.last() == first
    assert Order.objects.count() == 1 and open_exposure() == Decimal("100")


def test_price_moved_against_us_is_rejected(desk, games):
    parlay_id, offers = quoted(desk)
    market = games[0].markets[0]  # the home team shortens a lot
    market.outcomes[0].odds, market.outcomes[1].odds = Decimal("1.30"), Decimal("3.60")
    _, outcome = desk.confirm(parlay_id, offers[0]["odds"], "100")
    assert outcome == "reject:delivered"
    assert Confirmation.objects.get().reason == "price_moved"


def test_small_moves_within_tolerance_are_accepted(desk, games):
    parlay_id, offers = quoted(desk)
    outcome = games[0].markets[0].outcomes[0]
    outcome.odds -= Decimal("0.02")
    _, result = desk.confirm(parlay_id, offers[0]["odds"], "100")
    assert result == "accept:delivered"


def test_suspended_market_at_confirm_is_rejected(desk, games):
    parlay_id, offers = quoted(desk)
    games[1].markets[1].status = 0
    desk.confirm(parlay_id, offers[0]["odds"], "100")
    assert Confirmation.objects.get().reason == "reprice_market_not_active"


def test_a_better_price_than_offered_is_rejected(desk):
    parlay_id, offers = quoted(desk)
    desk.confirm(parlay_id, offers[0]["odds"] + 50, "100")
    assert Confirmation.objects.get().reason == "price_not_offered"


def test_risk_above_the_ladder_is_cut_down(desk):
    parlay_id, offers = quoted(desk)
    _, outcome = desk.confirm(parlay_id, offers[-1]["odds"], "4000")
    assert outcome == "accept:delivered"
    assert desk.poster.last()["confirmed_stake"] == Decimal("1000.00")
    assert Order.objects.get().risk == Decimal("1000")


def test_exposure_limits_shape_quotes_then_reduce_then_stop(desk):
    # The outcome limit is 1000; every parlay here shares the home moneyline of game 0.
    home = desk.line(0, 219, 4)
    first, offers = quoted(desk, [home, desk.line(1, 225, 12)])
    desk.confirm(first, offers[-1]["odds"], "700")

    # Two quotes made now both see 300 of headroom.
    second, second_offers = quoted(desk, [home, desk.line(2, 225, 12)])
    third, third_offers = quoted(desk, [home, desk.line(3, 225, 13)])
    assert [o["max_risk"] for o in third_offers] == [Decimal("200.00"), Decimal("300.00")]

    _, outcome = desk.confirm(second, second_offers[-1]["odds"], "250")
    assert outcome == "accept:delivered"
    # The third was offered before the second filled: only 50 is left, so we accept 50.
    _, outcome = desk.confirm(third, third_offers[-1]["odds"], "200")
    assert outcome == "accept:delivered"
    assert desk.poster.last()["confirmed_stake"] == Decimal("50.00")

    outcome_key = f"{desk.games[0].event_urn}/219//4"
    held = sum(r.amount for r in ExposureReservation.objects.filter(state="reserved", key=outcome_key))
    assert held == Decimal("1000")
    # Nothing left on that outcome: the next RFQ gets no offer at all.
    _, outcome = desk.ask([home, desk.line(1, 223, 1715)])
    assert outcome == "declined"


def test_exposure_limit_rejects_when_no_headroom_is_left(desk):
    parlay_id, offers = quoted(desk)
    with_limit = desk.settings.with_changes(max_exposure_outcome=Decimal("1"))
    desk.confirms.settings = with_limit
    desk.confirm(parlay_id, offers[0]["odds"], "100")
    assert Confirmation.objects.get().reason == "exposure_limit"
    assert not Order.objects.exists()


def test_an_accept_we_could_not_deliver_is_followed_up(desk):
    parlay_id, offers = quoted(desk)
    desk.poster.fail_network = True
    order_uuid, outcome = desk.confirm(parlay_id, offers[0]["odds"], "100")
    assert outcome == "accept:failed"
    assert desk.ambiguous == [order_uuid]
    assert Confirmation.objects.get().delivery == "failed"
    assert open_exposure() == Decimal("100")  # kept until ProphetX's order list says otherwise


def test_internal_error_fails_closed_with_a_reject(desk, monkeypatch):
    parlay_id, offers = quoted(desk)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(desk.confirms, "_evaluate", broken)
    order_uuid, outcome = desk.confirm(parlay_id, offers[0]["odds"], "100")
    assert outcome == "reject:delivered"
    assert Confirmation.objects.get(order_uuid=order_uuid).reason == "internal_error"
    assert not Order.objects.exists() and not ExposureReservation.objects.exists()


def test_finalized_above_what_we_accepted_is_applied_and_flagged(desk):
    parlay_id, offers = quoted(desk)
    order_uuid, _ = desk.confirm(parlay_id, offers[0]["odds"], "100")
    desk.finalize(parlay_id, order_uuid, offers[0]["odds"], "180")
    order = Order.objects.get()
    assert order.risk == Decimal("180") and order.needs_review
    assert open_exposure() == Decimal("180")
    assert ExposureReservation.objects.filter(state="released").count() == 5  # history kept
    assert ReconciliationIssue.objects.filter(kind="size_above_accepted").exists()


def test_finalize_of_an_order_we_never_accepted_is_booked_and_flagged(desk):
    parlay_id, offers = quoted(desk)
    order_uuid = "0199aaaa-274d-70be-ac0a-cf876677d57f"
    desk.finalize(parlay_id, order_uuid, offers[0]["odds"], "50")
    order = Order.objects.get(order_uuid=order_uuid)
    assert order.status == "finalized" and order.needs_review
    assert open_exposure() == Decimal("50")
    assert ReconciliationIssue.objects.filter(kind="unknown_order").exists()


def test_finalize_twice_changes_nothing(desk):
    parlay_id, offers = quoted(desk)
    order_uuid, _ = desk.confirm(parlay_id, offers[0]["odds"], "100")
    desk.finalize(parlay_id, order_uuid, offers[0]["odds"], "100")
    desk.finalize(parlay_id, order_uuid, offers[0]["odds"], "100")
    assert ExposureReservation.objects.count() == 5 and not Order.objects.get().needs_review


def test_order_not_booked_releases_exposure(desk):
    parlay_id, offers = quoted(desk)
    order_uuid, _ = desk.confirm(parlay_id, offers[0]["odds"], "100")
    desk.finalize(parlay_id, order_uuid, offers[0]["odds"], "100", status="rejected")
    assert Order.objects.get().status == "not_booked" and open_exposure() == 0


def test_resettlement_adds_a_correction_and_a_duplicate_changes_nothing(desk):
    parlay_id, offers = quoted(desk)
    order_uuid, _ = desk.confirm(parlay_id, offers[0]["odds"], "100")
    desk.finalize(parlay_id, order_uuid, offers[0]["odds"], "100")
    desk.settle(parlay_id, order_uuid, "lost", "100")
    desk.settle(parlay_id, order_uuid, "lost", "100")
    assert BookEntry.objects.count() == 1
    order = Order.objects.get()
    desk.settle(parlay_id, order_uuid, "won", str(order.bettor_stake))
    order.refresh_from_db()
    assert order.pnl == order.bettor_stake and order.needs_review
    assert sorted(BookEntry.objects.values_list("kind", "amount")) == [
        ("resettlement", order.bettor_stake + 100),
        ("settlement", Decimal("-100")),
    ]


def test_refund_releases_exposure_and_reverses_pnl(desk):
    parlay_id, offers = quoted(desk)
    order_uuid, _ = desk.confirm(parlay_id, offers[0]["odds"], "100")
    desk.finalize(parlay_id, order_uuid, offers[0]["odds"], "100")
    desk.settle(parlay_id, order_uuid, "lost", "100")
    desk.dispatcher.handle(frame("refund.processed", {"order_uuid": order_uuid, "parlay_id": parlay_id}))
    order = Order.objects.get()
    assert (order.status, order.pnl) == ("refunded", 0)
    assert sum(BookEntry.objects.values_list("amount", flat=True)) == 0


def test_parlay_settled_that_disagrees_is_flagged(desk):
    parlay_id, offers = quoted(desk)
    order_uuid, _ = desk.confirm(parlay_id, offers[0]["odds"], "100")
    desk.finalize(parlay_id, order_uuid, offers[0]["odds"], "100")
    desk.settle_parlay(parlay_id, "won", "25")
    settlement = ParlaySettlement.objects.get()
    assert not settlement.consistent and "still open" in settlement.note
    assert ReconciliationIssue.objects.filter(kind="parlay_settlement_mismatch").exists()


def test_settlement_of_an_unknown_order_is_flagged(desk):
    desk.settle("fdd7e3fb-ef50-42eb-9d73-43d3d7f1390f", "01991588-274d-70be-ac0a-cf876677d57f", "won", "150")
    assert ReconciliationIssue.objects.filter(kind="unknown_order_settled").exists()
    assert not BookEntry.objects.exists()


def test_order_matched_is_recorded(desk):
    parlay_id, _ = quoted(desk)
    from parlays.models import MatchedOrder

    desk.dispatcher.handle(
        frame(
            "order.matched",
            {
                "parlay_id": parlay_id,
                "matched_odds": -285,
                "matched_stake": Decimal("3.49"),
                "matched_at": 1759216871383341000,
                "market_lines": [],
            },
        )
    )
    row = MatchedOrder.objects.get()
    assert (row.bettor_odds, row.ours) == (285, True)
