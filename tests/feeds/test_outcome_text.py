"""A market read by the fast path carries its outcomes' JSON text (feeds.protocol.odds.Listed),
built column-wise from the checked odds and probabilities text: it must be the very text the
state builds from the outcome dicts, for the samples, the bench messages and odd decimal forms,
and the state keeps it in place of the dicts until something reads them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bench._feed_messages import TS_PLACEHOLDER, make_messages
from feeds.protocol import fastodds
from feeds.protocol import messages as m
from feeds.protocol.odds import Listed
from feeds.protocol.xmlsafe import parse_prepared
from feeds.services import rows, state, store
from feeds.simulator import FEED_SAMPLES
from tests.feeds.helpers import sample

EVENT = "sr:match:1"


def _dict_built(market: m.MarketOdds) -> rows.MarketRow:
    """The line as the state builds it from the outcome tuples (no text given)."""
    ws = rows.Workspace(now=datetime(2026, 1, 1, tzinfo=UTC))
    ws.events[EVENT] = rows.EventRow(1, EVENT)
    plain = market._replace(outcomes=tuple(market.outcomes))
    state.apply_message(ws, m.OddsChange(1, EVENT, 1, None, (plain,), has_odds=True))
    return ws.markets[(EVENT, market.id, market.specifiers)]


def _check(body: bytes) -> int:
    """Every Listed market's text against the dict-built line; returns how many there were."""
    listed = 0
    for market in m.parse_message(body).markets:
        if type(market.outcomes) is not Listed:
            continue
        listed += 1
        row = _dict_built(market)
        assert market.outcomes.json == row.outcomes_json == store._dumps_fast(row.outcomes)
        assert json.loads(market.outcomes.json) == row.outcomes
        assert market.outcomes.ids == tuple(o.id for o in market.outcomes)
    return listed


def _doc(outcomes: str) -> bytes:
    return (
        '<odds_change product="1" event_id="sr:match:1" timestamp="1700000000000"><odds>'
        f'<market status="1" id="18" specifiers="total=2.5">{outcomes}</market></odds></odds_change>'
    ).encode()


def test_the_text_is_the_dict_built_one_on_the_bench_messages():
    listed = sum(_check(body.replace(TS_PLACEHOLDER, b"1700000000000")) for _, body in make_messages(60, 10, seed=3))
    assert listed > 1000  # nearly every market (10-50 a message) carries its text


@pytest.mark.parametrize("name", [n for n in FEED_SAMPLES if n.startswith("odds_change")])
def test_the_text_is_the_dict_built_one_on_the_samples(name):
    _check(sample(name))


ODD_VALUES = ["1.50", "2", "1e1", "01.5", ".5", "5.", "1.0", "100", "0.0000001", "0.00000000", "0.000001", "0"]


@pytest.mark.parametrize("value", ODD_VALUES)
def test_odd_decimal_forms_give_the_text_str_decimal_gives(value):
    for outcome in (
        f'<outcome id="1" odds="{value}" probabilities="0.5" active="1"/>',
        f'<outcome id="1" odds="1.5" probabilities="{value}" active="0"/>',
        f'<outcome id="1" odds="{value}" probabilities="{value}" active="1"/>',
    ):
        body = _doc(outcome + '<outcome id="2" odds="2.5" probabilities="0.25" active="1"/>')
        try:
            m.parse_message(body)
        except Exception:  # refused (odds 0, say): nothing stored, nothing to compare
            continue
        _check(body)
        _check(body)  # the odds cache warm
        # Probabilities are carried as the text str(Decimal()) gives, by the fast path as well.
        for outcome in m.parse_message(body).markets[0].outcomes:
            assert outcome.probability in ("0.5", "0.25", str(Decimal(value)))


def test_a_market_that_needs_the_dicts_carries_no_text():
    for outcomes in (
        '<outcome id="1" odds="2" probabilities="0.5" active="1"/><outcome id="1" odds="3" probabilities="0.5" active="1"/>',
        '<outcome id="1" odds="2" active="1"/>',  # no probability: the dict has no "prob"
        '<outcome id="1" probabilities="0.5" active="1"/>',  # no odds: "odds" is null
        '<outcome id="1" odds="" probabilities="0.5" active="1"/>',  # empty odds: null as well
        '<outcome id="a\\b" odds="2" probabilities="0.5" active="1"/>',  # the id needs escaping
    ):
        (market,) = m.parse_message(_doc(outcomes)).markets
        assert type(market.outcomes) is not Listed
        assert _dict_built(market).outcomes_json is None or "\\" in outcomes


def test_the_state_keeps_the_text_and_builds_the_dicts_when_read():
    ws = rows.Workspace(now=datetime(2026, 1, 1, tzinfo=UTC))
    ws.events[EVENT] = rows.EventRow(1, EVENT)

    def apply(ts: int, outcomes: str) -> tuple[rows.Result, rows.MarketRow]:
        body = _doc(outcomes).replace(b"1700000000000", str(ts).encode())
        result = state.apply_message(ws, m.parse_message(body))
        return result, ws.markets[(EVENT, 18, "total=2.5")]

    both = '<outcome id="1" odds="2" probabilities="0.5" active="1"/><outcome id="2" odds="3" probabilities="0.4" active="0"/>'
    _, row = apply(1, both)
    assert row._outcomes is None and row.outcomes_json is not None  # only the text so far
    assert row.outcomes == {
        "1": {"odds": "2", "active": True, "prob": "0.5"},
        "2": {"odds": "3", "active": False, "prob": "0.4"},
    }
    # The same timestamp and outcomes again, the dicts not built yet: a duplicate.
    _, row = apply(2, both)
    row.pk = 5  # as if stored
    result, _ = apply(2, both)
    assert result.outcome == state.DUPLICATE
    # A moved price at the same timestamp is applied (the comparison reads the dicts).
    result, row = apply(2, both.replace('odds="3"', 'odds="3.5"'))
    assert result.outcome == state.APPLIED and row.outcomes["2"]["odds"] == "3.5"
    # An outcome no longer listed is kept, inactive: the dicts decide, the text is re-encoded.
    _, row = apply(3, '<outcome id="1" odds="2.1" probabilities="0.5" active="1"/>')
    assert row.outcomes["2"] == {"odds": "3.5", "active": False, "prob": "0.4"}
    assert row.outcomes_json is None
    # Listed again in full: the text again, and it names both.
    _, row = apply(4, both)
    assert row.outcomes_json is not None and set(json.loads(row.outcomes_json)) == {"1", "2"}
    # Setting the dicts drops the text (the store then encodes them).
    row.outcomes = {"1": {"odds": "2", "active": True, "prob": "0.5"}}
    assert row.outcomes_json is None


def test_plain_decimals_are_the_texts_str_decimal_gives_back():
    from feeds.protocol.fastodds import _decimal_texts

    values = ["0", "0.5", "1", "1.50", "10", "0.000001", "0.0000010", "123.456", "01", "00", ".5", "5.", ""]
    values += ["1.2.3", "1..2", "0.0000001", "0.00000000", "0.000000", "007.5", "0.05", "100.00"]
    for value in values:
        try:
            plain = str(Decimal(value)) == value
        except ArithmeticError:
            plain = False
        # A value the check takes is the text itself; one it leaves goes through Decimal.
        if _decimal_texts(["0.5", value, "2"]):
            assert plain, value
        elif value not in ("0.000000",):  # plain, but left to Decimal (the exponent guard)
            assert not plain, value


def test_a_listed_market_gives_its_outcomes_named():
    # Listed holds plain tuples (zip builds them) and gives OutcomeOdds when read; it equals,
    # and hashes as, the tuple of the same named outcomes.
    body = _doc(
        '<outcome id="1" odds="2.5" probabilities="0.4" active="1"/>'
        '<outcome id="2" odds="1.5" probabilities="0.6" active="0"/>'
    )
    m.parse_message(body)
    (market,) = m.parse_message(body).markets
    listed = market.outcomes
    assert type(listed) is Listed
    named = (
        m.OutcomeOdds("1", Decimal("2.5"), "0.4", True),
        m.OutcomeOdds("2", Decimal("1.5"), "0.6", False),
    )
    assert listed == named and named == listed and hash(listed) == hash(named)
    assert all(type(o) is m.OutcomeOdds for o in listed) and list(listed) == list(named)
    assert listed[1] == named[1] and listed[1].odds == Decimal("1.5") and listed[-1].active is False
    assert listed[0:1] == named[:1] and type(listed[0:1][0]) is m.OutcomeOdds
    ((oid, odds, probability, active, team), _) = listed
    assert (oid, odds, probability, active, team) == ("1", Decimal("2.5"), "0.4", True, None)
    assert market == m.parse_element(parse_prepared(body)).markets[0]


def test_a_markets_ids_are_one_tuple_per_shape_and_the_state_does_not_need_it():
    # fastodds._IDS: the same ids give the same tuple (the state's usual market compares them by
    # identity); ids with one twice are never kept there, and their market carries no text.
    first = m.parse_message(_doc(_PRICED.format(2, 3))).markets[0].outcomes
    second = m.parse_message(_doc(_PRICED.format(2.5, 3.5))).markets[0].outcomes
    assert type(first) is type(second) is Listed and first.ids is second.ids == ("1", "2")
    twice = _PRICED.replace('id="2"', 'id="1"').format(2, 3)
    assert type(m.parse_message(_doc(twice)).markets[0].outcomes) is not Listed
    assert ("1", "1") not in fastodds._IDS
    # Emptied (bounded) between two messages: equal ids, other tuples; the state still takes the text.
    ws = rows.Workspace(now=datetime(2026, 1, 1, tzinfo=UTC))
    ws.events[EVENT] = rows.EventRow(1, EVENT)
    for ts, prices in enumerate([(2, 3), (2.5, 3.5), (2.6, 3.6)], start=1):
        fastodds._IDS.clear()
        body = _doc(_PRICED.format(*prices)).replace(b"1700000000000", str(ts).encode())
        message = m.parse_message(body)
        assert state.apply_message(ws, message).outcome == state.APPLIED
        row = ws.markets[(EVENT, 18, "total=2.5")]
        assert row._outcomes is None and row.outcomes_json == message.markets[0].outcomes.json
    assert row.outcomes["2"] == {"odds": "3.6", "active": True, "prob": "0.4"}


_PRICED = '<outcome id="1" odds="{}" probabilities="0.5" active="1"/><outcome id="2" odds="{}" probabilities="0.4" active="1"/>'
