"""Every UOF sample message (tests/fixtures/uof) parsed and checked field by field, then the parser's
tolerance (BOM, unknown attributes, missing certainty, typos) and its refusals (unsafe XML,
bad values), with the reason the journal will show."""

from __future__ import annotations

from decimal import Decimal

import pytest

from feeds.protocol import messages as m
from feeds.protocol.errors import MalformedMessage, MessageTooLarge, UnknownMessageType, UnsafeXml
from feeds.simulator import FEED_SAMPLES, SIMDATA
from tests.feeds.helpers import FIXTURES, sample

D = Decimal


def parse(name: str) -> m.Message:
    return m.parse_message(sample(name))


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*")))
def test_the_demo_copies_are_byte_identical_to_the_test_fixtures(name):
    assert (SIMDATA / name).read_bytes() == (FIXTURES / name).read_bytes()


def test_the_demo_has_a_copy_of_every_test_fixture():
    assert sorted(p.name for p in SIMDATA.glob("*")) == sorted(p.name for p in FIXTURES.glob("*"))


@pytest.mark.parametrize("name", FEED_SAMPLES)
def test_fast_parser_and_defusedxml_agree_on_every_sample(name):
    body = sample(name)
    assert m.parse_message(body) == m.parse_message(body, defused=True)


def test_alive_with_bom_and_crlf():
    body = sample("alive_1.xml")
    assert body.startswith(b"\xef\xbb\xbf")
    assert parse("alive_1.xml") == m.Alive(product=1, timestamp=1465848166722, subscribed=True)
    assert parse("alive_2.xml") == m.Alive(product=1, timestamp=1653576646190, subscribed=True)


def test_snapshot_complete():
    assert parse("snapshot_complete_1.xml") == m.SnapshotComplete(product=1, timestamp=1475958139957, request_id=1)


def test_odds_change_1_live_soccer_without_xml_declaration():
    msg = parse("odds_change_1.xml")
    assert isinstance(msg, m.OddsChange)
    assert (msg.product, msg.event_urn, msg.timestamp, msg.request_id) == (4, "sr:match:10927088", 1487254396715, None)
    status = msg.sport_event_status
    assert (status.status, status.reporting, status.match_status, status.home_score, status.away_score) == (
        1,
        1,
        6,
        "0",
        "2",
    )
    assert status.data["clock"] == {"match_time": "27:33"}
    assert status.data["period_scores"] == [
        {"match_status_code": "6", "number": "1", "home_score": "0", "away_score": "2"}
    ]
    assert msg.has_odds and len(msg.markets) == 42
    first = msg.markets[0]
    assert first == m.MarketOdds(
        id=26,
        specifiers="",
        status=1,
        favourite=True,
        outcomes=(
            m.OutcomeOdds("70", D("1.85"), str(D("0.48935")), True),
            m.OutcomeOdds("72", D("1.75"), str(D("0.51065")), True),
        ),
    )
    inactive = msg.markets[1].outcomes[2]
    assert inactive == m.OutcomeOdds("11", None, str(D("0.92105")), False)
    total = next(mk for mk in msg.markets if mk.id == 68 and mk.specifiers == "total=2.5")
    assert total.extended_specifiers == "extended_total=2.5"
    assert [o.id for o in total.outcomes] == ["13", "12"]
    settled = [mk for mk in msg.markets if mk.status == m.SETTLED]
    assert {(mk.id, mk.specifiers) for mk in settled} == {
        (68, "total=1.5"), (18, "total=1.5"), (20, "total=0.5"), (20, "total=1.5"), (8, "goalnr=1"), (8, "goalnr=2"),
        (62, "goalnr=2"), (62, "goalnr=1"), (68, "total=0.5"),
    }  # fmt: skip
    assert all(mk.outcomes == () for mk in settled)
    variant = next(mk for mk in msg.markets if mk.id == 71)
    assert variant.specifiers == "variant=sr:exact_goals:4+"
    assert variant.outcomes[2] == m.OutcomeOdds("sr:exact_goals:4+:94", D("1.5"), str(D("0.62734")), True)
    hcp = next(mk for mk in msg.markets if mk.id == 14 and mk.specifiers == "hcp=1:0")
    assert hcp.extended_specifiers == "hcp=1:0|total=4"
    assert sum(1 for mk in msg.markets if mk.status == m.INACTIVE) == 7


def test_odds_change_2_full_prematch_snapshot():
    msg = parse("odds_change_2.xml")
    assert (msg.product, msg.event_urn, msg.timestamp) == (3, "sr:match:31604309", 1653576646190)
    assert msg.sport_event_status.status == 0 and msg.sport_event_status.match_status == 0
    assert msg.sport_event_status.home_score is None
    assert (msg.expected_totals, msg.expected_supremacy) == (D("2.93922"), D("0.2694"))
    assert len(msg.markets) == 170
    assert msg.markets[0].outcomes == (
        m.OutcomeOdds("1", D("2.25"), str(D("0.425694")), True),
        m.OutcomeOdds("2", D("3.55"), str(D("0.267471")), True),
        m.OutcomeOdds("3", D("3.1"), str(D("0.306834")), True),
    )
    long_probability = next(mk for mk in msg.markets if mk.id == 13).outcomes[0].probability
    assert long_probability == "0.6142428234144973"  # exact text, never via float
    assert len({(mk.id, mk.specifiers) for mk in msg.markets}) == 170


def test_odds_change_3_ended_match_with_results_and_undescribed_markets():
    msg = parse("odds_change_3.xml")
    assert (msg.product, msg.event_urn, msg.timestamp) == (1, "sr:match:52631577", 1743228021019)
    status = msg.sport_event_status
    assert (status.status, status.match_status, status.home_score, status.away_score) == (3, 100, "129", "93")
    assert status.data["clock"]["stopped"] == "true"
    assert status.data["results"] == [{"match_status_code": "100", "home_score": "129", "away_score": "93"}]
    assert len(status.data["period_scores"]) == 4
    assert [(mk.id, mk.specifiers, mk.status, mk.outcomes) for mk in msg.markets[:2]] == [
        (1346, "fieldgoalnr=1|score=69-57", 0, ()),
        (1343, "fieldgoalnr=1|score=61-51", 0, ()),
    ]
    assert len(msg.markets) == 10


def test_odds_change_4_betting_status_metadata_exponent_probabilities_and_player_outcomes():
    msg = parse("odds_change_4.xml")
    assert (msg.product, msg.event_urn, msg.timestamp) == (2, "sr:match:123", 1234)
    assert (msg.betting_status, msg.betstop_reason) == (1, 2)
    assert msg.sport_event_status.data["statistics"]["corners"] == {"home": "5", "away": "7"}
    m47 = msg.markets[0]
    assert (m47.id, m47.specifiers, m47.favourite, m47.status, m47.next_betstop) == (47, "score=41.5", True, 1, 12345)
    m48 = msg.markets[1]
    assert m48.status == m.ACTIVE  # no status attribute: active
    assert msg.markets[2] == m.MarketOdds(id=49, specifiers="", status=0, outcomes=())
    m123 = msg.markets[3]
    assert (m123.specifiers, m123.extended_specifiers, m123.status) == ("game=3|point=1|set=2", "pero=2", -1)
    players = msg.markets[4].outcomes
    assert players[1] == m.OutcomeOdds("sr:player:4322", D("1.5"), None, False)
    m899 = msg.markets[5]
    assert m899.outcomes[0] == m.OutcomeOdds("sr:player:10077", D("200.0"), str(D("8.97094E-4")), True, team=1)
    assert m899.outcomes[0].probability == str(D("0.000897094"))
    assert m899.outcomes[10] == m.OutcomeOdds("sr:player:2614", None, str(D("0.0032518534")), False, team=1)
    assert m899.outcomes[-1].team == 2
    m145 = msg.markets[6]
    assert (m145.status, m145.specifiers) == (m.CANCELLED, "variant=sr:point_range:76+")
    assert msg.markets[8].specifiers == "goalnr=1|player=sr:player:122702"


def test_odds_change_5_hand_written_every_attribute():
    msg = parse("odds_change_5.xml")
    assert (msg.product, msg.event_urn, msg.request_id, msg.odds_change_reason) == (3, "sr:match:42", 7, 1)
    status = msg.sport_event_status
    assert status.data["home_penalty_score"] == "0" and status.data["expedite_mode"] == "false"
    assert status.data["clock"] == {
        "match_time": "71:00",
        "stoppage_time": "2:00",
        "remaining_time": "19:00",
        "stopped": "false",
    }
    assert (msg.betting_status, msg.betstop_reason) == (1, 0)
    (market,) = msg.markets
    assert (market.id, market.specifiers, market.cashout_status, market.next_betstop) == (
        1,
        "goalnr=1",
        1,
        1653576700000,
    )
    assert market.outcomes[0] == m.OutcomeOdds("1", D("2.25"), str(D("0.425694")), True, team=1)
    assert market.outcomes[2].odds == D("3.10")


def test_bet_stop_samples():
    assert parse("bet_stop_1.xml") == m.BetStop(
        product=1, event_urn="sr:match:9578495", timestamp=1465848395199, request_id=None, groups=("all",)
    )
    assert parse("bet_stop_2.xml") == m.BetStop(
        product=1, event_urn="sr:match:42", timestamp=1653576646190, request_id=7, groups=("all",), market_status=0
    )


def test_bet_settlement_1_void_factors_dead_heat_and_outrights():
    msg = parse("bet_settlement_1.xml")
    assert (msg.product, msg.event_urn, msg.timestamp, msg.certainty) == (3, "sr:match:16807109", 1547538073717, 2)
    assert [(mk.id, mk.specifiers, len(mk.outcomes)) for mk in msg.markets] == [
        (193, "", 2), (204, "setnr=1|total=9.5", 2), (201, "", 4), (535, "variant=pre:markettext:52751", 32), (40, "type=live", 5),
    ]  # fmt: skip
    assert msg.markets[2].outcomes == (
        m.SettledOutcome("863", 0, D("1")),
        m.SettledOutcome("864", 0, D("0.5")),
        m.SettledOutcome("861", 1, D("0.5")),
        m.SettledOutcome("862", 0),
    )
    winners = [o for o in msg.markets[3].outcomes if o.result == 1]
    assert winners == [
        m.SettledOutcome("pre:outcometext:6388892", 1, None, D("0.5")),
        m.SettledOutcome("pre:outcometext:6408970", 1, None, D("0.5")),
    ]
    assert msg.markets[4].outcomes[-1] == m.SettledOutcome("sr:player:249437", 1)


def test_bet_settlement_2_without_certainty_and_range_specifiers():
    msg = parse("bet_settlement_2.xml")
    assert msg.certainty is None  # required by the XSD, absent in Sportradar's own sample
    assert (msg.product, msg.event_urn, msg.timestamp) == (1, "sr:match:9583135", 1465855727378)
    first = msg.markets[0]
    assert (first.id, first.specifiers, first.extended_specifiers) == (213, "gamenr=3|setnr=3", "setnr=3|gamenr=3")
    assert first.outcomes == (m.SettledOutcome("70", 0), m.SettledOutcome("72", 1))
    assert msg.markets[2].specifiers == "gamenrX=2|gamenrY=3|setnr=3"
    assert msg.markets[5].specifiers == "gamenr=3-3|setnr=3-3"
    assert len(msg.markets) == 46


def test_bet_settlement_3_hand_written_zero_void_factor_is_kept():
    msg = parse("bet_settlement_3.xml")
    (market,) = msg.markets
    assert (market.id, market.specifiers, market.void_reason) == (1, "goalnr=1", 0)
    assert market.outcomes[0] == m.SettledOutcome("1", 1, D("0.0"), D("1.0"))
    assert msg.request_id == 7


def test_bet_cancel_samples():
    one = parse("bet_cancel_1.xml")
    assert one == m.BetCancel(
        product=1,
        event_urn="sr:match:18941600",
        timestamp=1564602448841,
        request_id=None,
        markets=(m.MarketRef(id=62, specifiers="goalnr=1", void_reason=12),),
        start_time=1564597838000,
        end_time=1564598513000,
    )
    two = parse("bet_cancel_2.xml")
    assert two.request_id == 1 and two.start_time is None and two.end_time is None
    assert two.markets == (
        m.MarketRef(312, "pointnr=45|setnr=4", extended_specifiers="info1=10|info2=word"),  # 'extended_specifers' (sic)
        m.MarketRef(313, "pointnr=1|setnr=2", extended_specifiers="info1=4|info2=word1"),
        m.MarketRef(314, ""),
    )


def test_rollback_samples():
    assert parse("rollback_bet_settlement_1.xml") == m.RollbackBetSettlement(
        product=1,
        event_urn="sr:match:10237855",
        timestamp=1475958052704,
        request_id=1,
        markets=(m.MarketRef(312, "pointnr=45|setnr=4"), m.MarketRef(313, "pointnr=1|setnr=2")),
    )
    assert parse("rollback_bet_settlement_2.xml").markets == (m.MarketRef(1, "goalnr=1", outcome_ids=("1",)),)
    assert parse("rollback_bet_cancel_1.xml").markets == (
        m.MarketRef(312, "pointnr=45|setnr=4"),
        m.MarketRef(313, "pointnr=1|setnr=2"),
    )
    two = parse("rollback_bet_cancel_2.xml")
    assert (two.start_time, two.end_time, two.request_id) == (1653570000000, 1653576000000, 7)
    assert two.markets == (m.MarketRef(1, "goalnr=1", void_reason=0, outcome_ids=("1",)),)


def test_fixture_change_keeps_unknown_attributes_aside():
    msg = parse("fixture_change_1.xml")
    assert msg == m.FixtureChange(
        product=1,
        event_urn="sr:match:8816128",
        timestamp=1465848168312,
        request_id=None,
        change_type=2,
        start_time=1466436600000,
        extra={"status": "0"},
    )


# --- tolerance and refusals ------------------------------------------------------------------------------


def test_unknown_attributes_and_elements_are_ignored():
    body = b'<alive product="1" timestamp="5" subscribed="0" colour="blue"><future/></alive>'
    assert m.parse_message(body) == m.Alive(product=1, timestamp=5, subscribed=False)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<alive product="1" timestamp="1" subscribed="&lol2;"/>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><alive product="1" timestamp="1" subscribed="&x;"/>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?><!DOCTYPE alive SYSTEM "http://example.com/x.dtd"><alive product="1" timestamp="1" subscribed="1"/>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, EXTERNAL_DTD], ids=["billion-laughs", "xxe", "external-dtd"])
@pytest.mark.parametrize("defused", [False, True])
def test_dtds_and_entities_are_refused(body, defused):
    with pytest.raises(UnsafeXml) as exc:
        m.parse_message(body, defused=defused)
    assert exc.value.code == "unsafe_xml"


def test_undeclared_entity_is_malformed_not_resolved():
    with pytest.raises(MalformedMessage, match="invalid XML"):
        m.parse_message(b'<alive product="1" timestamp="1" subscribed="&x;"/>')


def test_utf16_bodies_are_refused():
    with pytest.raises(MalformedMessage, match="UTF-8"):
        m.parse_message('<alive product="1" timestamp="1" subscribed="1"/>'.encode("utf-16"))


def test_size_limit():
    with pytest.raises(MessageTooLarge):
        m.parse_message(b"<alive " + b" " * 2000 + b'product="1" timestamp="1"/>', max_bytes=1024)


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"", "empty body"),
        (b"not xml", "not a UTF-8 XML document"),
        (b"<odds_change product='1'", "invalid XML"),
        (b'<odds_changes product="1" timestamp="1" event_id="sr:match:1"/>', "unknown message type <odds_changes>"),
        (b'<alive timestamp="1" subscribed="1"/>', "missing required attribute 'product'"),
        (b'<alive product="x" timestamp="1"/>', "product='x' is not a whole number"),
        (b'<odds_change product="1" timestamp="1"/>', "missing required attribute 'event_id'"),
        (b'<odds_change product="1" timestamp="1" event_id="match 1"/>', "is not a URN"),
        (
            b'<odds_change product="1" timestamp="1" event_id="sr:match:1"><odds><market id="1"><outcome id="1" odds="abc"/></market></odds></odds_change>',
            "odds='abc' is not a number",
        ),
        (
            b'<odds_change product="1" timestamp="1" event_id="sr:match:1"><odds><market id="1"><outcome id="1" odds="-2"/></market></odds></odds_change>',
            "must be positive",
        ),
        (
            b'<odds_change product="1" timestamp="1" event_id="sr:match:1"><odds><market id="1"><outcome id="1" odds="NaN"/></market></odds></odds_change>',
            "not finite",
        ),
        (
            b'<odds_change product="1" timestamp="1" event_id="sr:match:1"><odds><market id="1" specifiers="total"/></odds></odds_change>',
            "invalid specifier",
        ),
        (
            b'<odds_change product="1" timestamp="1" event_id="sr:match:1"><odds><market><outcome id="1"/></market></odds></odds_change>',
            "missing required attribute 'id'",
        ),
        (
            b'<bet_settlement product="1" timestamp="1" event_id="sr:match:1"><outcomes><market id="1"><outcome id="1" result="2"/></market></outcomes></bet_settlement>',
            "result 2 is not -1/0/1",
        ),
        (
            b'<bet_settlement product="1" timestamp="1" event_id="sr:match:1"><outcomes><market id="1"><outcome id="1" result="0" void_factor="1.5"/></market></outcomes></bet_settlement>',
            "void_factor 1.5 outside 0..1",
        ),
        (
            b'<bet_settlement product="1" timestamp="1" event_id="sr:match:1"><outcomes><market id="1"><outcome id="1" result="1" dead_heat_factor="0"/></market></outcomes></bet_settlement>',
            "dead_heat_factor 0 outside",
        ),
        (b'<snapshot_complete product="1" timestamp="1"/>', "missing required attribute 'request_id'"),
        (b'<bet_stop product="1" timestamp="1" event_id="sr:match:1"/>', "missing required attribute 'groups'"),
        (b'<alive product="1" timestamp="-5" subscribed="1"/>', "negative timestamp"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(body, reason):
    with pytest.raises(MalformedMessage) as exc:
        m.parse_message(body)
    assert reason in str(exc.value)


def test_unknown_type_has_its_own_code():
    with pytest.raises(UnknownMessageType) as exc:
        m.parse_message(b'<bet_settlement_v2 product="1" timestamp="1"/>')
    assert exc.value.reason.startswith("unknown_type:")


def test_stateful_message_without_markets_parses_to_an_empty_tuple():
    body = b'<bet_cancel product="1" event_id="sr:match:1" timestamp="1"/>'
    assert m.parse_message(body).markets == ()


def test_odds_change_without_odds_element():
    body = b'<odds_change product="1" event_id="sr:match:1" timestamp="1"><sport_event_status status="1" match_status="6"/></odds_change>'
    msg = m.parse_message(body)
    assert msg.has_odds is False and msg.markets == ()
    assert msg.sport_event_status.status == 1


# The fast market reader must give exactly what the reference reader gives (or refuse alike).
_TRICKY_MARKETS = [
    '<market id="1" status="1"><outcome id="1" odds="1.50" probabilities="0.6" active="1"/></market>',
    '<market id=" 18 " specifiers="total=2.5"><outcome id=" 12 " odds=" 1.9 " probabilities="5E-1"/></market>',
    '<market id="18" specifiers="b=1|a=2" status=""><outcome id="12" odds="1e1" active="true"/></market>',
    '<market id="18" specifiers="  "><outcome id="12" odds="" probabilities=""/></market>',
    '<market id="0"><outcome id="1" odds="2"/></market>',
    '<market id="-3"><outcome id="1" odds="2"/></market>',
    '<market id="x1"><outcome id="1" odds="2"/></market>',
    '<market id="\u00b2"><outcome id="1" odds="2"/></market>',
    '<market id="12" status="-4" favourite="true" cashout_status="1" extended_specifers="x=1">'
    '<outcome id="1" odds="2" team="1"/><market_metadata next_betstop="1700000000000"/></market>',
    '<market id="12" extended_specifiers=" e=1 "><outcome id="1" odds="2.0" active="false"/></market>',
    '<market id="12"><outcome id="1" odds="0"/></market>',
    '<market id="12"><outcome id="1" odds="-1.5"/></market>',
    '<market id="12"><outcome id="1" odds="NaN"/></market>',
    '<market id="12"><outcome id="1" odds="abc"/></market>',
    '<market id="12"><outcome id="1" probabilities="Infinity"/></market>',
    '<market id="12"><outcome id="1" active="2"/></market>',
    '<market id="12"><outcome odds="1.5"/></market>',
    '<market id="12"><outcome id="" odds="1.5"/></market>',
    '<market id="12" specifiers="total"><outcome id="1" odds="1.5"/></market>',
    '<market id="12" favourite="maybe"><outcome id="1" odds="1.5"/></market>',
    '<market id="12" status="abc"><outcome id="1" odds="1.5"/></market>',
    '<market id="12" status="100"><outcome id="1" odds="1.5"/></market>',
    '<market id="123456" status="0"><outcome id="sr:player:1" odds="101.0" probabilities="0.001"/>'
    "<unknown/><outcome id='2' odds='1.01'/></market>",
    '<market xmlns="urn:x" id="12"><outcome id="1" odds="1.5"/></market>',
]


def _read(reader, xml):
    import xml.etree.ElementTree as ET

    try:
        return reader(ET.fromstring(xml))
    except MalformedMessage as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("xml", _TRICKY_MARKETS)
def test_fast_market_reader_agrees_with_the_reference(xml):
    # Twice: the second read goes through the value caches.
    assert _read(m._odds_market, xml) == _read(m._odds_market_checked, xml)
    assert _read(m._odds_market, xml) == _read(m._odds_market_checked, xml)


@pytest.mark.parametrize("name", [n for n in FEED_SAMPLES if n.startswith("odds_change")])
def test_fast_market_reader_agrees_on_every_sample_market(name):
    from feeds.protocol.xmlsafe import parse_fast

    root = parse_fast(sample(name))
    for el in root.iter("market"):
        assert m._odds_market(el) == m._odds_market_checked(el)
