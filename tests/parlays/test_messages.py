"""Topic payloads parsed from ProphetX's documented samples, both vocabularies, and bad input."""

import json
from decimal import Decimal

import pytest

from parlays.protocol import messages as m
from parlays.protocol.errors import ProtocolError, UnknownTopic
from parlays.protocol.jsonio import loads
from tests.parlays import samples


def parse(topic, text):
    return m.parse_topic(topic, loads(text))


def test_price_ask_sample():
    ask = parse(m.PRICE_ASK, samples.PRICE_ASK)
    assert ask.parlay_id == "83d790df-1ced-4490-a06a-7cb224faf59b"
    assert ask.stake == Decimal("3.49")
    assert ask.callback_url == "https://api-ss-sandbox.betprophet.co/parlay/sp/order/offers"
    assert ask.created_at_ns == 1744210012349577200
    first, second = ask.market_lines
    assert (first.line_id, first.market_id, first.outcome_id, first.sport_event_id, first.line) == (
        "4507a1464a5b43289a99f45f53f5af65",
        412,
        13,
        30023691,
        Decimal("5.5"),
    )
    assert second.line is None  # lineless leg


def test_price_confirm_keeps_sp_side_odds_as_sent():
    confirm = parse(m.PRICE_CONFIRM, samples.PRICE_CONFIRM)
    assert confirm.sp_odds == -1774 and confirm.stake == Decimal("200.00")
    assert confirm.order_uuid == "01977e64-756b-7a75-b218-f0a0e4032004"


def test_order_matched_sample_with_typeset_dashes():
    matched = parse(m.ORDER_MATCHED, samples.ORDER_MATCHED)
    assert matched.parlay_id == "28250d66-30a4-406b-b90c-cd65c96d4c72"
    assert matched.matched_odds == 188 and matched.bettor_odds == 188
    assert matched.matched_stake == Decimal("3.49")
    assert matched.matched_at_ns == 1759216871383341000


def test_order_matched_production_sign_is_read_as_the_bettor_price():
    text = samples.ORDER_MATCHED.replace('"matched_odds": 188', '"matched_odds": -285')
    assert parse(m.ORDER_MATCHED, text).bettor_odds == 285


def test_order_finalized_sample_rounds_the_float_tail_to_cents():
    finalized = parse(m.ORDER_FINALIZED, samples.ORDER_FINALIZED)
    assert finalized.order_uuid == "01977e64-756b-7a75-b218-f0a0e4032004"
    assert finalized.parlay_id == "23851166-3e18-4b3c-aea7-16de1b114bb8"
    assert finalized.confirmed_odds == finalized.sp_odds == -100000
    assert finalized.confirmed_stake == Decimal("1349.05")
    assert finalized.status == "finalized" and finalized.updated_at_ns == 1750172203426483200


def test_order_and_parlay_settled_samples():
    settled = parse(m.ORDER_SETTLED, samples.ORDER_SETTLED)
    assert (settled.settlement_status, settled.profit) == ("won", Decimal("150.00"))
    assert settled.order_uuid == "01991588-274d-70be-ac0a-cf876677d57f"
    parlay = parse(m.PARLAY_SETTLED, samples.PARLAY_SETTLED)
    assert (parlay.parlay_id, parlay.settlement_status, parlay.profit) == (
        "fdd7e3fb-ef50-42eb-9d73-43d3d7f1390f",
        "won",
        Decimal("150.00"),
    )


def test_new_vocabulary_is_accepted():
    envelope = {
        "payload": {
            "parlay_id": "83d790df-1ced-4490-a06a-7cb224faf59b",
            "quantity": Decimal("10"),
            "callback_url": "https://px.example/parlay/sp/v2/order/offers",
            "created_at": 1744210012349577200,
            "market_strikes": [
                {
                    "strike_id": "a" * 32,
                    "market_id": 225,
                    "outcome_id": 12,
                    "sport_event_id": 1,
                    "strike": Decimal("220.5"),
                },
                {"strike_id": "b" * 32, "market_id": 219, "outcome_id": 4, "sport_event_id": 2},
            ],
        }
    }
    ask = m.parse_topic(m.PRICE_ASK, envelope)
    assert ask.stake == Decimal("10.00") and ask.market_lines[0].line == Decimal("220.5")
    settled = m.parse_topic(
        m.ORDER_SETTLED,
        {
            "payload": {
                "order_uuid": "01991588-274d-70be-ac0a-cf876677d57f",
                "parlay_id": "fdd7e3fb-ef50-42eb-9d73-43d3d7f1390f",
                "settlement_status": "profit",
                "profit": 5,
            }
        },
    )
    assert settled.settlement_status == "won"
    finalized = m.parse_topic(
        m.ORDER_FINALIZED,
        {
            "payload": {
                "order_uuid": "01991588-274d-70be-ac0a-cf876677d57f",
                "parlay_id": "fdd7e3fb-ef50-42eb-9d73-43d3d7f1390f",
                "confirmed_price": -450,
                "confirmed_quantity": 90,
            }
        },
    )
    assert finalized.confirmed_odds == -450 and finalized.confirmed_stake == Decimal("90.00")


def _ask(**changes):
    envelope = loads(samples.PRICE_ASK)
    envelope["payload"].update(changes)
    return envelope


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"parlay_id": "not-a-uuid"}, "parlay_id"),
        ({"parlay_id": None}, "parlay_id"),
        ({"stake": Decimal("-1")}, "stake"),
        ({"stake": "abc"}, "stake"),
        ({"stake": True}, "stake"),
        ({"callback_url": "ftp://x"}, "callback_url"),
        ({"created_at": 1744210012349}, "created_at"),  # milliseconds, not ns
        ({"market_lines": []}, "market_lines"),
        ({"market_lines": "x"}, "market_lines"),
        ({"market_lines": [{"line_id": "x" * 32}]}, "market_id"),
        (
            {"market_lines": [{"line_id": "bad id!", "market_id": 1, "outcome_id": 1, "sport_event_id": 1}]},
            "market_lines[0].line_id",
        ),
    ],
)
def test_bad_price_ask_is_refused(changes, field):
    with pytest.raises(ProtocolError) as error:
        m.parse_topic(m.PRICE_ASK, _ask(**changes))
    assert field in (error.value.field or str(error.value))


def test_duplicated_leg_is_refused():
    envelope = _ask()
    envelope["payload"]["market_lines"].append(envelope["payload"]["market_lines"][0])
    with pytest.raises(ProtocolError):
        m.parse_topic(m.PRICE_ASK, envelope)


def test_exponent_amounts_are_refused():
    with pytest.raises(ProtocolError):
        m.parse_topic(m.PRICE_ASK, loads(samples.PRICE_ASK.replace('"stake": 3.49', '"stake": 3.49e0')))


@pytest.mark.parametrize("bad_odds", ["50", "1.9", '"x"', "null", "true"])
def test_impossible_confirm_odds_are_refused(bad_odds):
    with pytest.raises(ProtocolError):
        parse(m.PRICE_CONFIRM, samples.PRICE_CONFIRM.replace('"odds": -1774', f'"odds": {bad_odds}'))


def test_unknown_topic_and_bad_envelopes():
    with pytest.raises(UnknownTopic):
        m.parse_topic("price.bogus", {"payload": {}})
    with pytest.raises(ProtocolError):
        m.parse_topic(m.ORDER_SETTLED, {"payload": "not an object"})
    with pytest.raises(ProtocolError):
        m.parse_topic(m.ORDER_SETTLED, ["not", "an", "object"])
    with pytest.raises(ProtocolError):
        m.parse_topic(m.ORDER_SETTLED, json.loads(samples.ORDER_SETTLED.replace('"won"', '"maybe"')))


def test_health_check_needs_no_payload():
    assert isinstance(m.parse_topic(m.HEALTH_CHECK, {"timestamp": 1757002869231213000}), m.HealthCheck)


def test_refund_needs_an_id():
    refund = m.parse_topic(
        m.REFUND_PROCESSED, loads('{"payload": {"order_uuid": "01991588-274d-70be-ac0a-cf876677d57f", "amount": 12.5}}')
    )
    assert refund.amount == Decimal("12.50")
    with pytest.raises(ProtocolError):  # a float means someone parsed JSON without Decimal
        m.parse_topic(
            m.REFUND_PROCESSED, {"payload": {"order_uuid": "01991588-274d-70be-ac0a-cf876677d57f", "amount": 12.5}}
        )
    with pytest.raises(ProtocolError):
        m.parse_topic(m.REFUND_PROCESSED, {"payload": {"amount": 1}})
