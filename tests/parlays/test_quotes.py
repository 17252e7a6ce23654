"""price.ask.new → offers, as ProphetX's flow describes it; every RFQ is recorded."""

from decimal import Decimal

import pytest

from parlays.models import (
    CorrelationRule,
    ExposureReservation,
    InboundMessage,
    LineMapping,
    Order,
    QuoteLeg,
    QuoteRequest,
)
from parlays.pricing import estimated_prices_consistent
from parlays.protocol import odds as am
from tests.parlays.conftest import BROADCAST, frame

pytestmark = pytest.mark.django_db


def test_rfq_is_quoted_then_recorded(desk):
    legs = [desk.line(0, 219, 4), desk.line(1, 225, 12)]
    parlay_id, outcome = desk.ask(legs, stake="3.49")
    assert outcome == "quoted"
    url, body = desk.poster.calls[0]
    assert url == "https://px.test/parlay/sp/order/offers"
    assert body["parlay_id"] == parlay_id
    offers = body["offers"]
    assert [o["max_risk"] for o in offers] == [Decimal("200.00"), Decimal("1000.00")]
    for offer in offers:
        assert offer["odds"] >= 100  # bettor side, positive
        assert [p["line_id"] for p in offer["estimated_price"]] == [o.line_id for _, _, o in legs]
        assert estimated_prices_consistent(offer["odds"], [p["odds"] for p in offer["estimated_price"]])
    assert offers[0]["odds"] > offers[1]["odds"]

    request = QuoteRequest.objects.get(parlay_id=parlay_id)
    assert request.status == "quoted" and request.stake == Decimal("3.49") and request.latency_us is not None
    assert list(request.legs.values_list("event_urn", flat=True)) == [desk.games[0].event_urn, desk.games[1].event_urn]
    assert list(request.offers.values_list("odds", flat=True)) == [o["odds"] for o in offers]
    assert InboundMessage.objects.get(parlay_id=parlay_id).status == "processed"


def test_offer_prices_the_fair_probability_with_margin(desk):
    legs = [desk.line(0, 219, 4), desk.line(1, 225, 12)]
    parlay_id, _ = desk.ask(legs)
    request = QuoteRequest.objects.get(parlay_id=parlay_id)
    fair = float(request.fair_probability)
    best = desk.offers()[0]["odds"]
    # 1.5% per leg, rounded for the house: the offer pays at most 1 / (fair * 1.015^2)
    assert float(am.to_decimal(best)) <= 1 / (fair * 1.015**2)
    assert float(am.to_decimal(best)) > 0.97 / (fair * 1.015**2)


def test_duplicate_rfq_is_quoted_once(desk):
    legs = [desk.line(0, 219, 4), desk.line(1, 225, 12)]
    parlay_id, first = desk.ask(legs)
    _, second = desk.ask(legs, parlay_id=parlay_id)
    assert (first, second) == ("quoted", "duplicate")
    assert len(desk.poster.calls) == 1
    assert QuoteRequest.objects.count() == 1
    assert sorted(InboundMessage.objects.values_list("status", flat=True)) == ["duplicate", "processed"]


def test_unmapped_leg_means_no_quote(desk, games):
    legs = [desk.line(0, 219, 4), desk.line(1, 225, 12)]
    payload = desk.ask_payload(legs)
    payload["market_lines"][1] = {"line_id": "f" * 32, "market_id": 1303, "outcome_id": 5, "sport_event_id": 9615}
    assert desk.dispatcher.handle(frame("price.ask.new", payload, BROADCAST)) == "declined"
    assert desk.poster.calls == []
    request = QuoteRequest.objects.get()
    assert (request.status, request.decline_reason) == ("declined", "unmapped_line")
    assert request.legs.count() == 2


def test_lines_of_a_mapped_event_map_automatically(desk, games):
    line = desk.line(2, 223, 1715)
    LineMapping.objects.filter(line_id=line[2].line_id).delete()
    desk.quotes.line_index.invalidate()
    _, outcome = desk.ask([desk.line(0, 219, 4), line])
    assert outcome == "quoted"
    mapping = LineMapping.objects.get(line_id=line[2].line_id)
    # ProphetX shows the away side's +line; UOF's hcp is the home side's.
    assert (mapping.source, mapping.market_id, mapping.specifiers, mapping.outcome_id) == (
        "auto",
        223,
        games[2].markets[2].specifiers,
        "1715",
    )


def test_disabled_line_is_not_quoted(desk):
    line = desk.line(1, 225, 12)
    LineMapping.objects.filter(line_id=line[2].line_id).update(enabled=False)
    _, outcome = desk.ask([desk.line(0, 219, 4), line])
    assert outcome == "declined"
    assert QuoteRequest.objects.get().decline_reason == "unmapped_line"


def test_untrusted_feed_means_no_quote(desk, games):
    games[1].producer_up = False
    _, outcome = desk.ask([desk.line(0, 219, 4), desk.line(1, 225, 12)])
    assert outcome == "declined" and QuoteRequest.objects.get().decline_reason == "producer_down"
    games[1].producer_up, games[1].stale_by_s = True, 3600
    desk.ask([desk.line(0, 219, 5), desk.line(1, 225, 13)])
    assert QuoteRequest.objects.order_by("-id").first().decline_reason == "stale_odds"
    games[1].stale_by_s = 0
    games[1].markets[1].status = -1  # suspended
    desk.ask([desk.line(0, 219, 4), desk.line(1, 225, 13)])
    assert QuoteRequest.objects.order_by("-id").first().decline_reason == "market_not_active"
    assert desk.poster.calls == []


def test_same_game_parlay_needs_a_correlation_factor(desk):
    legs = [desk.line(0, 223, 1714), desk.line(0, 225, 12)]
    _, outcome = desk.ask(legs)
    assert outcome == "declined"
    assert QuoteRequest.objects.get().decline_reason == "sgp_unknown_correlation"
    CorrelationRule.objects.create(class_a="total_over", class_b="hcp_home", factor=Decimal("1.05"))
    desk.quotes.line_index.invalidate()
    parlay_id, outcome = desk.ask(legs)
    assert outcome == "quoted"
    request = QuoteRequest.objects.get(parlay_id=parlay_id)
    assert request.same_game and request.correlation_factor == Decimal("1.05000000")


def test_same_game_flag_is_set_when_the_parlay_is_declined(desk):
    # Three legs on one match, one pair of classes never combined: declined as sgp_blocked,
    # and still recorded as a same-game parlay (the flag follows the legs, not the price).
    CorrelationRule.objects.create(class_a="total_over", class_b="hcp_home", blocked=True)
    desk.quotes.line_index.invalidate()
    _, outcome = desk.ask([desk.line(0, 223, 1714), desk.line(0, 225, 12), desk.line(0, 219, 4)])
    request = QuoteRequest.objects.get()
    assert (outcome, request.decline_reason) == ("declined", "sgp_blocked")
    assert request.same_game
    _, outcome = desk.ask([desk.line(0, 219, 5), desk.line(1, 225, 13)])
    assert not QuoteRequest.objects.order_by("-id").first().same_game


def test_offer_refused_by_prophetx_is_recorded(desk):
    desk.poster.status = 400
    _, outcome = desk.ask([desk.line(0, 219, 4), desk.line(1, 225, 12)])
    assert outcome == "refused"
    request = QuoteRequest.objects.get()
    assert (request.status, request.decline_reason, request.post_status) == ("refused", "http_400", 400)


def test_max_risk_shrinks_with_the_open_exposure(desk):
    legs = [desk.line(0, 219, 4), desk.line(1, 225, 12)]
    order = Order.objects.create(
        order_uuid="x",
        parlay_id="y",
        status="finalized",
        bettor_odds=300,
        risk=Decimal("900"),
        bettor_stake=Decimal("300"),
    )
    outcome_key = f"{desk.games[0].event_urn}/219//4"
    ExposureReservation.objects.create(order=order, scope="outcome", key=outcome_key, amount=Decimal("900"))
    desk.ask(legs)
    assert [o["max_risk"] for o in desk.offers()] == [Decimal("100.00")]  # 1000 - 900, one offer left


BAD_FRAMES = [
    ("price.ask.new", "not json at all"),
    ("price.ask.new", '{"payload": {"parlay_id": "83d790df-1ced-4490-a06a-7cb224faf59b"}}'),
    (
        "price.ask.new",
        '{"payload": {"parlay_id": "x", "stake": 1, "callback_url": "https://a", "created_at": 1744210012349577200, "market_lines": []}}',
    ),
    (
        "price.confirm.new",
        '{"payload": {"parlay_id": "83d790df-1ced-4490-a06a-7cb224faf59b", "order_uuid": "01977e64-756b-7a75-b218-f0a0e4032004", "callback_url": "https://a", "odds": 50}}',
    ),
    ("order.settled", '{"payload": {"order_uuid": "01977e64-756b-7a75-b218-f0a0e4032004"}}'),
    ("order.finalized", '{"payload": []}'),
    ("parlay.settled", '"just a string"'),
    ("price.bogus", '{"payload": {}}'),
]


def test_bad_frames_are_rejected_and_leave_no_partial_state(desk):
    from parlays.protocol.pusher import Frame

    for topic, data in BAD_FRAMES:
        assert desk.dispatcher.handle(Frame(topic, BROADCAST, data)) == "rejected"
    assert InboundMessage.objects.filter(status="rejected").count() == len(BAD_FRAMES)
    assert not QuoteRequest.objects.exists() and not Order.objects.exists() and not QuoteLeg.objects.exists()
    assert desk.poster.calls == []
    # The invalid ask still carries its id for staff searching by parlay.
    assert InboundMessage.objects.filter(parlay_id="83d790df-1ced-4490-a06a-7cb224faf59b").exists()


def _record(desk, parlay_id=None):
    from django.utils import timezone

    from parlays.pricing import Declined
    from parlays.protocol.messages import parse_price_ask
    from parlays.services.quotes import QuoteRecord

    ask = parse_price_ask(desk.ask_payload([desk.line(0, 219, 4), desk.line(1, 225, 12)], parlay_id=parlay_id))
    return QuoteRecord(ask, [None, None], Declined("no_price"), None, "", None, timezone.now(), "{}", BROADCAST)


def test_recorder_writes_a_batch_in_bulk_and_marks_duplicates(desk):
    first, second = _record(desk), _record(desk)
    desk.quotes.record_batch([first, second, _record(desk, first.ask.parlay_id)])
    assert QuoteRequest.objects.count() == 2 and QuoteLeg.objects.count() == 4
    assert sorted(InboundMessage.objects.values_list("status", flat=True)) == ["duplicate", "processed", "processed"]


def test_recorder_falls_back_to_one_quote_at_a_time_on_a_race(desk, monkeypatch):
    from django.db import IntegrityError

    from parlays.services import quotes

    earlier = _record(desk)
    desk.quotes.record_batch([earlier])
    original = quotes._save_many

    def racing(records):
        if len(records) > 1:
            raise IntegrityError("duplicate key value violates unique constraint")
        return original(records)

    monkeypatch.setattr(quotes, "_save_many", racing)
    desk.quotes.record_batch([_record(desk), _record(desk, earlier.ask.parlay_id)])
    assert QuoteRequest.objects.count() == 2
    assert InboundMessage.objects.filter(status="duplicate").count() == 1
