"""Parlays priced from the real feed state (feeds.selectors through FeedsPriceSource): the
contract the two apps were built against, exercised end to end without a fake."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from feeds import conf as feeds_conf
from feeds.models import Producer, RecoveryRequest
from parlays import conf
from parlays.prices import FeedsPriceSource
from parlays.pricing import Declined, LegSpec, PricingParams, price_parlay
from tests.feeds.helpers import alive, apply, bet_stop, odds_change, snapshot_complete

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


PREMATCH = 3  # Betradar's prematch producer ("Ctrl")


@pytest.fixture
def uof_api():
    from feeds.protocol.client import UofClient
    from feeds.simulator import FakeUofApi

    api = FakeUofApi(token="t")
    api.start()
    with UofClient(api.base_url, "t", timeout=5) as client:
        yield client
    api.stop()


def _recover(client, now_ms: int, *, resend: bool = True) -> None:
    """Alives flow, the health check asks for a recovery, the recovery re-sends the line (or
    not), snapshot_complete: up."""
    from feeds.services import producers

    apply(alive(PREMATCH, ts=now_ms))
    (request_id,) = producers.producers_check(client).requested
    if resend:
        apply(
            odds_change(
                event=HOME,
                ts=now_ms + 500,
                product=PREMATCH,
                request_id=request_id,
                markets=[(1, "", 1, {"1": "1.80", "2": "3.60", "3": "4.50"})],
            )
        )
    apply(snapshot_complete(request_id, product=PREMATCH, ts=now_ms + 900))
    apply(alive(PREMATCH, ts=now_ms + 1000))


def _quote_home_win():
    from parlays.pricing import check_quote

    spec = LegSpec("l1", HOME, 1, "", "1")
    quote = FeedsPriceSource().market_quote(event_urn=HOME, market_id=1, specifiers="")
    return check_quote(spec, quote, PricingParams.from_settings(conf.get()), timezone.now())


def test_a_quiet_prematch_market_is_quoted_while_its_producer_is_up(uof_api):
    from feeds.services import producers

    producers.producers_sync(uof_api)
    now_ms = int(time.time() * 1000)
    hour_ago = now_ms - 3_600_000
    Producer.objects.filter(pk=PREMATCH).update(last_alive_at=timezone.now())
    _recover(uof_api, hour_ago - 60_000, resend=False)
    # The prematch price came an hour ago and has not moved since: Betradar sends nothing more.
    apply(
        odds_change(
            event=HOME, ts=hour_ago, product=PREMATCH, markets=[(1, "", 1, {"1": "1.80", "2": "3.60", "3": "4.50"})]
        )
    )
    apply(alive(PREMATCH, ts=now_ms))  # and alives said, every few seconds, that nothing was missed
    assert Producer.objects.get(pk=PREMATCH).status == "up"
    assert _quote_home_win() is None  # quoted (an age limit of 600 s would have declined it)

    # The producer goes down (no alive within the window): declined.
    later = timezone.now() + timedelta(seconds=feeds_conf.ALIVE_WINDOW_SECONDS + 5)
    assert producers.producers_check(uof_api, now=later).went_down == [PREMATCH]
    declined = _quote_home_win()
    assert declined is not None and declined.reason == "producer_down"

    # Back, but the recovery did not re-send this line (no longer offered): still declined.
    Producer.objects.filter(pk=PREMATCH).update(last_alive_at=timezone.now() - timedelta(minutes=1))
    RecoveryRequest.objects.update(requested_at=timezone.now() - timedelta(minutes=5))  # past the min interval
    _recover(uof_api, int(time.time() * 1000), resend=False)
    declined = _quote_home_win()
    assert declined is not None and declined.reason == "stale_odds" and "interruption" in declined.detail

    # Down again, and a recovery that re-sends the line: quoted again.
    producers.producers_mark_down("test: connection lost")
    RecoveryRequest.objects.update(requested_at=timezone.now() - timedelta(minutes=5))
    _recover(uof_api, int(time.time() * 1000) + 2000)
    assert Producer.objects.get(pk=PREMATCH).status == "up"
    assert _quote_home_win() is None


def test_an_operator_can_keep_a_maximum_age_per_producer_and_sport(uof_api, monkeypatch):
    from feeds.services import producers

    producers.producers_sync(uof_api)
    now_ms = int(time.time() * 1000)
    Producer.objects.filter(pk=PREMATCH).update(last_alive_at=timezone.now())
    _recover(uof_api, now_ms - 1_000_000, resend=False)
    apply(
        odds_change(
            event=HOME,
            ts=now_ms - 900_000,
            product=PREMATCH,
            markets=[(1, "", 1, {"1": "1.80", "2": "3.60", "3": "4.50"})],
        ),
        routing_key="hi.pre.-.odds_change.1.sr:match.101.-",
    )
    apply(alive(PREMATCH, ts=now_ms))
    assert _quote_home_win() is None
    monkeypatch.setattr(feeds_conf, "ODDS_MAX_AGE", {(PREMATCH, 1): 600})
    declined = _quote_home_win()
    assert declined is not None and declined.reason == "stale_odds" and "max 600s for producer 3" in declined.detail
    monkeypatch.setattr(feeds_conf, "ODDS_MAX_AGE", {(PREMATCH, 2): 600, (PREMATCH, None): 1200})
    assert _quote_home_win() is None
