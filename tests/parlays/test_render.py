"""Callback bodies, compared with the documented shapes."""

import json
from decimal import Decimal

from parlays.protocol import render
from parlays.protocol.jsonio import dumps, loads
from tests.parlays import samples


def test_offer_body_matches_the_documented_shape():
    offer = render.Offer(
        odds=800,
        max_risk=Decimal("200"),
        valid_until_ns=1744210517349577200,
        estimated_price=(
            render.LegPrice("4507a1464a5b43289a99f45f53f5af65", 200),
            render.LegPrice("fc10da901964584da0700e5d78b83904", 200),
        ),
    )
    body = render.offers_body("83d790df-1ced-4490-a06a-7cb224faf59b", [offer])
    assert json.loads(body) == samples.OFFER_BODY


def test_confirm_accept_body():
    body = render.confirm_accept_body(
        order_uuid="01977e64-756b-7a75-b218-f0a0e4032004",
        confirmed_odds=-800,
        confirmed_stake=Decimal("100.00"),
        price_probability=[
            render.PriceProbability(
                Decimal("200.00"),
                (
                    render.LegProbability("line_1", Decimal("0.333333")),
                    render.LegProbability("line_2", Decimal("0.333334")),
                ),
            )
        ],
    )
    assert body == (
        b'{"order_uuid":"01977e64-756b-7a75-b218-f0a0e4032004","action":"accept","confirmed_odds":-800,'
        b'"confirmed_stake":100.00,"price_probability":[{"max_risk":200.00,"lines":[{"line_id":"line_1",'
        b'"probability":0.333333},{"line_id":"line_2","probability":0.333334}]}]}'
    )
    assert "correlation" not in loads(body)["price_probability"][0]


def test_confirm_without_a_stake_change_omits_confirmed_stake():
    body = loads(render.confirm_accept_body(order_uuid="u", confirmed_odds=-800, price_probability=[]))
    assert "confirmed_stake" not in body


def test_reject_body():
    assert loads(render.confirm_reject_body(order_uuid="u")) == {"order_uuid": "u", "action": "reject"}


def test_cftc_vocabulary():
    offer = render.Offer(800, Decimal("10"), 1, (render.LegPrice("a", 200), render.LegPrice("b", 200)))
    body = loads(render.offers_body("p", [offer], vocabulary="cftc"))
    assert body["offers"][0]["price"] == 800 and body["offers"][0]["estimated_price"][0] == {
        "strike_id": "a",
        "price": 200,
    }


def test_decimals_are_written_exactly():
    assert (
        dumps({"a": Decimal("0.1"), "b": [Decimal("1349.05"), 3, None, True]}) == b'{"a":0.1,"b":[1349.05,3,null,true]}'
    )
