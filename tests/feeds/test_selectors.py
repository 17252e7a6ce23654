"""The read side: the parlay pricer's market_quote contract, event metadata, names, and the
fixture and description fetchers that feed them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from feeds import selectors
from feeds.models import MarketDescription, Producer, SportEvent, VariantDescription
from feeds.protocol import rest
from feeds.services import descriptions, fixtures
from tests.feeds.helpers import apply, odds_change, sample, settlement

pytestmark = pytest.mark.django_db

EVENT = "sr:match:8696826"  # rest_fixture_1.xml: IK Oddevold v Tvaakers IF


def make_up(product: int = 1) -> None:
    Producer.objects.filter(pk=product).update(status="up", subscribed=True, last_alive_at=timezone.now())


def load_names() -> None:
    descriptions.descriptions_store(
        rest.parse_market_descriptions(sample("rest_markets_1.xml")),
        rest.parse_variant_descriptions(sample("rest_variants_1.xml")),
    )
    fixtures.fixture_store(rest.parse_fixture(sample("rest_fixture_1.xml")))


def test_canonical_specifiers():
    assert selectors.canonical_specifiers("total=2.5|hcp=1") == "hcp=1|total=2.5"
    assert selectors.canonical_specifiers("") == ""
    with pytest.raises(ValueError):
        selectors.canonical_specifiers("total")


def test_market_quote_returns_active_outcomes_as_decimals_with_the_message_time():
    apply(odds_change(event=EVENT, ts=1_700_000_000_123, markets=[(18, "total=2.5", 1, {"12": "1.90", "13": None})]))
    quote = selectors.market_quote(event_urn=EVENT, market_id=18, specifiers="total=2.5")
    assert quote == selectors.MarketQuote(
        event_urn=EVENT,
        market_id=18,
        specifiers="total=2.5",
        status=1,
        producer_id=1,
        producer_up=False,  # nothing recovered yet
        odds_updated_at=datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
        outcomes={"12": Decimal("1.90")},
        fresh=False,
        stale_reason="producer 1 is down",
    )
    assert quote.odds_updated_at.tzinfo is not None


def test_market_quote_accepts_specifiers_in_any_order():
    apply(odds_change(event=EVENT, ts=1000, markets=[(204, "total=9.5|setnr=1", 1, {"12": "1.8"})]))
    quote = selectors.market_quote(event_urn=EVENT, market_id=204, specifiers="total=9.5|setnr=1")
    assert quote is not None and quote.specifiers == "setnr=1|total=9.5"


def test_market_quote_producer_up_only_when_recovered_subscribed_and_alive():
    apply(odds_change(event=EVENT, ts=1000, markets=[(1, "", 1, {"1": "2.0", "2": "3.0", "3": "4.0"})]))
    make_up()
    assert selectors.market_quote(event_urn=EVENT, market_id=1).producer_up is True
    Producer.objects.filter(pk=1).update(last_alive_at=timezone.now() - timedelta(seconds=21))
    assert selectors.market_quote(event_urn=EVENT, market_id=1).producer_up is False  # no beat needed
    make_up()
    Producer.objects.filter(pk=1).update(status="recovering")
    assert selectors.market_quote(event_urn=EVENT, market_id=1).producer_up is False
    make_up()
    Producer.objects.filter(pk=1).update(subscribed=False)
    assert selectors.market_quote(event_urn=EVENT, market_id=1).producer_up is False


def test_market_quote_shows_suspension_as_status():
    apply(odds_change(event=EVENT, ts=1000, markets=[(1, "", -1, {"1": "2.0"})]))
    quote = selectors.market_quote(event_urn=EVENT, market_id=1)
    assert quote.status == -1 and quote.outcomes == {"1": Decimal("2.0")}


def test_market_quote_none_when_unknown_never_priced_or_malformed():
    assert selectors.market_quote(event_urn=EVENT, market_id=1) is None
    apply(settlement(event=EVENT, markets=[(1, "", {"1": 1})]))
    assert selectors.market_quote(event_urn=EVENT, market_id=1) is None  # known only from a settlement
    assert selectors.market_quote(event_urn=EVENT, market_id=1, specifiers="garbage") is None


def test_event_info_before_and_after_the_fixture():
    apply(
        odds_change(event=EVENT, ts=1000, status=(1, 6, 1, 0)), routing_key="hi.-.live.odds_change.1.sr:match.8696826.-"
    )
    info = selectors.event_info(EVENT)
    assert (info.name, info.fixture_loaded, info.sport_id, info.is_live, info.home) == ("", False, 1, True, None)
    fixtures.fixture_store(rest.parse_fixture(sample("rest_fixture_1.xml")))
    info = selectors.event_info(EVENT)
    assert info.name == "IK Oddevold vs. Tvaakers IF" and info.fixture_loaded
    assert (info.sport_name, info.category_name, info.tournament_urn, info.tournament_name) == (
        "Soccer", "Sweden", "sr:tournament:68", "Ettan, Sodra"
    )  # fmt: skip
    assert info.home == selectors.Competitor("sr:competitor:1860", "IK Oddevold", "home", "ODD")
    assert info.away.name == "Tvaakers IF"
    assert info.scheduled == datetime(2016, 10, 31, 18, 0, tzinfo=UTC)
    assert (info.home_score, info.away_score) == ("1", "0")
    assert selectors.event_info("sr:match:404") is None


def test_selection_names_from_templates_and_variants():
    load_names()
    hcp = selectors.selection_info(event_urn=EVENT, market_id=16, specifiers="hcp=-1.5", outcome_id="1715")
    assert (hcp.market_name, hcp.outcome_name) == ("Handicap", "Tvaakers IF (+1.5)")
    home = selectors.selection_info(event_urn=EVENT, market_id=16, specifiers="hcp=-1.5", outcome_id="1714")
    assert home.outcome_name == "IK Oddevold (-1.5)"
    total = selectors.selection_info(event_urn=EVENT, market_id=18, specifiers="total=2.5", outcome_id="12")
    assert (total.market_name, total.outcome_name) == ("Total", "over 2.5")
    goal = selectors.selection_info(event_urn=EVENT, market_id=8, specifiers="goalnr=2", outcome_id="6")
    assert (goal.market_name, goal.outcome_name) == ("2nd goal", "IK Oddevold")
    exact = selectors.selection_info(
        event_urn=EVENT, market_id=71, specifiers="variant=sr:exact_goals:4+", outcome_id="sr:exact_goals:4+:96"
    )
    assert exact.outcome_name == "4+"
    unknown = selectors.selection_info(
        event_urn=EVENT, market_id=1343, specifiers="fieldgoalnr=1|score=61-51", outcome_id="1"
    )
    assert (unknown.market_name, unknown.outcome_name) == ("market 1343 (fieldgoalnr=1|score=61-51)", "1")
    assert hcp.as_selection(Decimal("1.85")) == {
        "sport_id": 1, "sport": "Soccer", "tournament_id": "sr:tournament:68", "tournament": "Ettan, Sodra",
        "event_id": EVENT, "event": "IK Oddevold vs. Tvaakers IF", "event_date": "2016-10-31T18:00:00+00:00",
        "market_id": 16, "specifiers": "hcp=-1.5", "market": "Handicap", "outcome_id": "1715", "outcome": "Tvaakers IF (+1.5)",
        "odds": "1.85", "is_live": False,
    }  # fmt: skip


def test_event_markets_for_the_read_api():
    load_names()
    apply(odds_change(event=EVENT, ts=1000, markets=[(1, "", 1, {"1": "2.0", "2": "3.0", "3": "4.0"})]))
    data = selectors.event_markets(EVENT)
    (line,) = data["markets"]
    assert line["name"] == "1x2" and line["producer_up"] is False
    assert [(o["name"], o["odds"]) for o in line["outcomes"]] == [
        ("IK Oddevold", "2.0"),
        ("draw", "3.0"),
        ("Tvaakers IF", "4.0"),
    ]


def test_fixtures_fetch_stores_known_and_gives_up_on_unknown(uof_client):
    apply(odds_change(event=EVENT, ts=1000), odds_change(event="sr:match:404", ts=1000))
    assert fixtures.fixtures_fetch(uof_client) == 1
    assert SportEvent.objects.get(urn=EVENT).name == "IK Oddevold vs. Tvaakers IF"
    missing = SportEvent.objects.get(urn="sr:match:404")
    assert not missing.fixture_needed and "Invalid identifier" in missing.fixture_error


def test_fixture_change_makes_us_fetch_the_uncached_fixture(uof_client, fake_api):
    apply(odds_change(event=EVENT, ts=1000))
    fixtures.fixtures_fetch(uof_client)
    apply(
        f'<fixture_change product="3" event_id="{EVENT}" change_type="2" start_time="1477936800000" timestamp="5000"/>'
    )
    assert SportEvent.objects.get(urn=EVENT).fixture_needed
    fixtures.fixtures_fetch(uof_client)
    assert fake_api.requests[-1][1] == f"/v1/sports/en/sport_events/{EVENT}/fixture_change_fixture.xml"


def test_descriptions_refresh_is_cached_and_fetches_outright_variants_lazily(uof_client, fake_api):
    assert descriptions.descriptions_refresh(uof_client) == 190
    assert VariantDescription.objects.count() == 12
    assert descriptions.descriptions_refresh(uof_client) == 0  # fresh: not fetched again
    apply(
        odds_change(
            event=EVENT,
            ts=1000,
            markets=[(10030, "variant=lcoo:markettext:33421", 1, {"lcoo:outcometext:4792": "5.0"})],
        )
    )
    assert descriptions.descriptions_fetch_missing(uof_client) == 1
    assert (
        MarketDescription.objects.get(market_id=10030, variant="lcoo:markettext:33421").name
        == "League Cup 2016/17 - Winner"
    )
    info = selectors.selection_info(
        event_urn=EVENT, market_id=10030, specifiers="variant=lcoo:markettext:33421", outcome_id="lcoo:outcometext:4792"
    )
    assert (info.market_name, info.outcome_name) == ("League Cup 2016/17 - Winner", "BARNSLEY FC")
