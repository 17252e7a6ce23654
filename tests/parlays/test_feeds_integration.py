"""Parlays priced from the real feed state (feeds.selectors through FeedsPriceSource): the
contract the two apps were built against, exercised end to end without a fake."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from feeds.models import Producer
from parlays import conf
from parlays.prices import FeedsPriceSource
from parlays.pricing import Declined, LegSpec, PricingParams, price_parlay
from tests.feeds.helpers import apply, bet_stop, odds_change

pytestmark = pytest.mark.django_db

HOME = "sr:match:101"
AWAY = "sr:match:202"


def feed_up(ts_ms: int) -> None:
    apply(odds_change(event=HOME, ts=ts_ms, markets=[(1, "", 1, {"1": "1.80", "2": "3.60", "3": "4.50"})]))
    apply(odds_change(event=AWAY, ts=ts_ms, markets=[(18, "total=2.5", 1, {"12": "1.95", "13": "1.85"})]))
    Producer.objects.filter(pk=1).update(status="up", subscribed=True, last_alive_at=timezone.now())


def legs() -> list[LegSpec]:
    return [
        LegSpec("l1", HOME, 1, "", "1"),
        LegSpec("l2", AWAY, 18, "total=2.5", "12"),
    ]


def price(source: FeedsPriceSource):
    specs = legs()
    quotes = [source.market_quote(event_urn=s.event_urn, market_id=s.market_id, specifiers=s.specifiers) for s in specs]
    return price_parlay(
        specs, quotes, PricingParams.from_settings(conf.get()), now=timezone.now(), now_ns=time.time_ns()
    )


def test_cross_game_parlay_is_priced_from_live_feed_odds():
    feed_up(int(time.time() * 1000))
    result = price(FeedsPriceSource())
    assert not isinstance(result, Declined), result
    # Two legs with fair probabilities of roughly 0.55 and 0.49: a parlay near 27%, priced
    # at better-than-fair odds for the house.
    assert 0.2 < float(result.fair_probability) < 0.32
    assert result.offers and all(offer.odds > 0 for offer in result.offers)


def test_a_suspended_market_or_a_producer_down_means_no_quote():
    feed_up(int(time.time() * 1000))
    apply(bet_stop(event=HOME, ts=int(time.time() * 1000) + 1))
    assert isinstance(price(FeedsPriceSource()), Declined)

    feed_up(int(time.time() * 1000) + 2)
    Producer.objects.filter(pk=1).update(status="down")
    assert isinstance(price(FeedsPriceSource()), Declined)


def test_prophetx_events_are_matched_to_betradar_events_by_competitors_and_start():
    from datetime import timedelta

    from feeds.models import SportEvent
    from parlays.models import PxEvent
    from parlays.services.lines import auto_match_events

    kickoff = timezone.now() + timedelta(hours=3)
    SportEvent.objects.create(
        urn="sr:match:900",
        name="FC Bayern München vs. Borussia Dortmund",
        scheduled=kickoff,
        competitors=[{"name": "FC Bayern München"}, {"name": "Borussia Dortmund"}],
    )
    SportEvent.objects.create(urn="sr:match:901", name="Bayern Munich II vs. Dortmund II", scheduled=kickoff)
    SportEvent.objects.create(urn="sr:match:902", name="Arsenal vs. Chelsea", scheduled=kickoff)
    SportEvent.objects.create(urn="sr:match:903", name="Arsenal vs. Chelsea", scheduled=kickoff + timedelta(minutes=5))
    PxEvent.objects.create(
        sport_event_id=1, name="Bayern Munchen vs Borussia Dortmund", scheduled=kickoff + timedelta(minutes=10)
    )
    PxEvent.objects.create(sport_event_id=2, name="Arsenal vs Chelsea", scheduled=kickoff)  # two candidates
    PxEvent.objects.create(
        sport_event_id=3, name="Bayern Munchen vs Borussia Dortmund", scheduled=kickoff + timedelta(days=7)
    )  # the return fixture: too far
    assert auto_match_events() == 1
    assert dict(PxEvent.objects.values_list("sport_event_id", "event_urn")) == {1: "sr:match:900", 2: "", 3: ""}
