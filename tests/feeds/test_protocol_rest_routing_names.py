"""Routing keys and bindings, specifiers, name templates, and the REST response parsers on the
shared REST samples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feeds.protocol import rest
from feeds.protocol.errors import InvalidRoutingKey, MalformedMessage, UofApiError, UofNotFound
from feeds.protocol.names import ordinal, render_name
from feeds.protocol.routing import RoutingKey, bindings, build_routing_key, parse_routing_key
from feeds.protocol.specifiers import canonical_specifiers, parse_specifiers
from tests.feeds.helpers import sample

# --- routing keys -----------------------------------------------------------------------------------------


def test_routing_key_examples_from_the_docs():
    assert parse_routing_key("hi.pre.-.odds_change.1.sr:match.1234.-") == RoutingKey(
        priority="hi",
        prematch=True,
        virtual=False,
        live=False,
        message_type="odds_change",
        sport_id=1,
        event_urn="sr:match:1234",
        node_id=None,
    )
    key = parse_routing_key("lo.-.live.bet_settlement.1.sr:match.1234.-")
    assert (key.priority, key.live, key.prematch, key.message_type) == ("lo", True, False, "bet_settlement")
    alive = parse_routing_key("-.-.-.alive.-.-.-.-")
    assert (alive.priority, alive.message_type, alive.sport_id, alive.event_urn, alive.node_id) == (
        None,
        "alive",
        None,
        None,
        None,
    )


def test_routing_key_negative_node_virtual_and_doc_type_aliases():
    key = parse_routing_key("hi.virt.-.cancelbet.1.vf:match.99.-7")
    assert (key.virtual, key.message_type, key.event_urn, key.node_id) == (True, "bet_cancel", "vf:match:99", -7)
    assert (
        parse_routing_key("lo.-.live.rollback_betsettlement.1.sr:match.1.-").message_type == "rollback_bet_settlement"
    )
    assert parse_routing_key("lo.-.live.rollback_cancelbet.1.sr:match.1.-").message_type == "rollback_bet_cancel"


@pytest.mark.parametrize(
    "key",
    [
        "a.b",
        "xx.-.-.alive.-.-.-.-",
        "hi.pre.-.odds_change.soccer.sr:match.1.-",
        "hi.pre.-.-.1.sr:match.1.-",
        "hi.now.-.odds_change.1.sr:match.1.-",
    ],
)
def test_bad_routing_keys(key):
    with pytest.raises(InvalidRoutingKey):
        parse_routing_key(key)


def test_build_routing_key_round_trips():
    key = build_routing_key(message_type="bet_settlement", live=True, sport_id=1, event_urn="sr:match:42", node_id=3)
    assert key == "lo.-.live.bet_settlement.1.sr:match.42.3"
    assert str(parse_routing_key(key)) == key
    assert build_routing_key(message_type="alive") == "-.-.-.alive.-.-.-.-"


def test_binding_presets():
    assert bindings("all") == ["*.*.*.*.*.*.*.*"]
    assert bindings("all", node_id=5) == ["*.*.*.*.*.*.*.-", "*.*.*.*.*.*.*.5"]
    assert bindings("live") == ["*.*.live.*.*.*.*.*", "-.-.-.*.*.*.*.*"]
    assert bindings("prematch", node_id=1) == [
        "*.pre.*.*.*.*.*.-",
        "*.pre.*.*.*.*.*.1",
        "-.-.-.*.*.*.*.-",
        "-.-.-.*.*.*.*.1",
    ]
    # A sport filter keeps the system messages (alives) bound.
    assert bindings("all", sports=(1, 2)) == ["*.*.*.*.1.*.*.*", "*.*.*.*.2.*.*.*", "-.-.-.*.*.*.*.*"]
    with pytest.raises(ValueError):
        bindings("everything")


def _topic_match(pattern: str, key: str) -> bool:
    return all(p in ("*", k) for p, k in zip(pattern.split("."), key.split("."), strict=True))


def test_live_preset_receives_alives_and_live_odds_but_not_prematch():
    keys = bindings("live", node_id=1)
    wanted = ["hi.-.live.odds_change.1.sr:match.1.-", "-.-.-.alive.-.-.-.-", "-.-.-.snapshot_complete.-.-.-.1"]
    unwanted = [
        "hi.pre.-.odds_change.1.sr:match.1.-",
        "-.-.-.snapshot_complete.-.-.-.2",
        "hi.-.live.odds_change.1.sr:match.1.9",
    ]
    assert all(any(_topic_match(p, k) for p in keys) for k in wanted)
    assert not any(any(_topic_match(p, k) for p in keys) for k in unwanted)


# --- specifiers ------------------------------------------------------------------------------------------


def test_specifiers_split_on_first_equals_and_sort():
    assert parse_specifiers("variant=sr:exact_goals:4+|hcp=-1.75") == {"variant": "sr:exact_goals:4+", "hcp": "-1.75"}
    assert canonical_specifiers("setnr=4|pointnr=45") == "pointnr=45|setnr=4"
    assert canonical_specifiers("pointnr=1|setnr=2") == "pointnr=1|setnr=2"
    assert canonical_specifiers("score=0:2") == "score=0:2"
    assert canonical_specifiers("a=b=c") == "a=b=c"
    assert canonical_specifiers("") == ""


@pytest.mark.parametrize("raw", ["total", "=2.5", "total=2.5|total=3.5"])
def test_bad_specifiers(raw):
    with pytest.raises(MalformedMessage):
        canonical_specifiers(raw)


# --- names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template, specifiers, expected",
    [
        ("Total {total}", {"total": "2.5"}, "Total 2.5"),
        ("under {total}", {"total": "2.5"}, "under 2.5"),
        ("{$competitor1} ({+hcp})", {"hcp": "-1.75"}, "Home FC (-1.75)"),
        ("{$competitor2} ({-hcp})", {"hcp": "-1.75"}, "Away FC (+1.75)"),
        ("{$competitor1} ({+hcp})", {"hcp": "1"}, "Home FC (+1)"),
        ("{$competitor2} ({-hcp})", {"hcp": "0"}, "Away FC (0)"),
        ("{!goalnr} goal", {"goalnr": "2"}, "2nd goal"),
        ("{!setnr} set - {!gamenr} game", {"setnr": "1", "gamenr": "13"}, "1st set - 13th game"),
        ("{(minute-1)}:00 - {minute}:59", {"minute": "15"}, "14:00 - 15:59"),
        ("{!(inningnr+1)} inning", {"inningnr": "2"}, "3rd inning"),
        ("{%player} to score", {"player": "sr:player:1"}, "Lionel Messi to score"),
        ("{%player} to score", {"player": "sr:player:2"}, "sr:player:2 to score"),
        ("{$event} winner", {}, "Home FC vs. Away FC winner"),
        ("Total {total}", {}, "Total {total}"),
    ],
)
def test_name_templates(template, specifiers, expected):
    profiles = {"sr:player:1": "Lionel Messi"}
    assert (
        render_name(template, specifiers, competitor1="Home FC", competitor2="Away FC", profile_name=profiles.get)
        == expected
    )


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th",
    ]  # fmt: skip


# --- REST parsers ------------------------------------------------------------------------------------------


def test_whoami():
    details = rest.parse_whoami(sample("rest_whoami_1.xml"))
    assert details == rest.BookmakerDetails(6908, "/unifiedfeed/6908", datetime(2019, 1, 3, 15, 16, 30, tzinfo=UTC))


def test_producers():
    producers = rest.parse_producers(sample("rest_producers_1.xml"))
    assert len(producers) == 15
    lo = producers[0]
    assert lo == rest.ProducerInfo(
        1, "LO", "Live Odds", "https://stgapi.betradar.com/v1/liveodds/", True, ("live",), 600
    )
    assert producers[3].scope == ("live", "prematch") and producers[3].recovery_window_minutes == 4320
    assert not producers[2].active
    assert {p.id for p in producers if p.recovery_window_minutes == 180} == {6, 8, 9, 10, 11, 12, 15, 17}


def test_market_descriptions():
    markets = {(d.id, d.variant): d for d in rest.parse_market_descriptions(sample("rest_markets_1.xml"))}
    assert len(markets) == 190  # SOURCES.md says 189; the file holds 190 market elements
    handicap = markets[(16, "")]
    assert handicap.name == "Handicap" and handicap.groups == ("all", "score", "regular_play")
    assert handicap.outcomes == (
        rest.OutcomeDescription("1714", "{$competitor1} ({+hcp})"),
        rest.OutcomeDescription("1715", "{$competitor2} ({-hcp})"),
    )
    assert handicap.specifiers == (("hcp", "decimal"),)
    golf = markets[(1008, "")]
    assert golf.name == "{%competitor} total strokes" and golf.attributes == ("is_golf_stroke_play_market",)
    small = {(d.id, d.variant): d for d in rest.parse_market_descriptions(sample("rest_markets_2.xml"))}
    assert small[(21, "sr:exact_goals:6+")].outcomes[-1] == rest.OutcomeDescription("sr:exact_goals:6+:74", "6+")
    assert small[(892, "")].outcome_type == "player" and small[(892, "")].includes_outcomes_of_type == "sr:player"
    (outright,) = rest.parse_market_descriptions(sample("rest_variant_market_1.xml"))
    assert (outright.id, outright.variant) == (10030, "lcoo:markettext:33421")
    assert outright.outcomes[0] == rest.OutcomeDescription("lcoo:outcometext:4792", "BARNSLEY FC")


def test_variant_descriptions():
    variants = {v.id: v for v in rest.parse_variant_descriptions(sample("rest_variants_1.xml"))}
    assert len(variants) == 12
    assert [o.name for o in variants["sr:exact_goals:4+"].outcomes] == ["0", "1", "2", "3", "4+"]
    assert variants["sr:correct_score:max:6"].outcomes[-1] == rest.OutcomeDescription(
        "sr:correct_score:max:6:1331", "other"
    )


def test_fixtures():
    one = rest.parse_fixture(sample("rest_fixture_1.xml"))
    assert one.urn == "sr:match:8696826" and one.sport_id == 1 and one.sport_name == "Soccer"
    assert (one.tournament_urn, one.tournament_name, one.category_name) == (
        "sr:tournament:68",
        "Ettan, Sodra",
        "Sweden",
    )
    assert (one.season_urn, one.season_name) == ("sr:season:12346", "Div 1, Sodra 2016")
    assert one.scheduled == datetime(2016, 10, 31, 18, 0, tzinfo=UTC) and one.status == "closed"
    assert one.competitors == (
        rest.Competitor("sr:competitor:1860", "IK Oddevold", "home", "ODD", "SWE"),
        rest.Competitor("sr:competitor:22356", "Tvaakers IF", "away", "TVA", "SWE"),
    )
    assert one.extra["period_length"] == "45"
    two = rest.parse_fixture(sample("rest_fixture_2.xml"))
    assert two.urn == "sr:match:18001015" and two.tournament_name == "UEFA Champions League"
    assert [c.name for c in two.competitors] == ["Ajax Amsterdam", "Tottenham Hotspur"]


def test_recovery_response_and_errors():
    accepted = rest.parse_response(sample("rest_recovery_response_1.xml"))
    assert accepted == rest.ApiResponse("ACCEPTED", "Recovery request accepted", "request_id=42")
    with pytest.raises(UofNotFound, match="Invalid identifier"):
        rest.parse_response(sample("rest_not_found_1.xml"))
    with pytest.raises(UofApiError) as exc:
        rest.parse_response(b'<response response_code="FORBIDDEN"><message>no</message></response>')
    assert exc.value.response_code == "FORBIDDEN"


def test_code_lists():
    assert rest.parse_code_list(sample("rest_void_reasons_1.xml"))[12] == "INCORRECT_ODDS"
    assert rest.parse_code_list(sample("rest_betstop_reasons_1.xml"))[1] == "POSSIBLE_GOAL"
    assert rest.parse_code_list(sample("rest_betting_status_1.xml")) == {
        0: "UNKNOWN", 1: "GOAL", 2: "DANGEROUS_FREE_KICK", 3: "DANGEROUS_GOAL_POSITION", 4: "POSSIBLE_BOUNDARY",
        5: "POSSIBLE_CHECKOUT", 6: "INGAME_PENALTY",
    }  # fmt: skip
    assert rest.parse_code_list(sample("rest_match_status_1.xml"))[6] == "1st half"
