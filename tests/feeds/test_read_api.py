"""The read API carries the whole stored state: a scenario of settlements per producer (dead
heat, void factors), cancels with windows and their rollbacks, a bet stop, stale, duplicate
and rejected messages; every field the API returns is checked against the rows it came from."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.urls import reverse

from feeds.models import BetCancel, FeedMessage, Market, MarketSettlement, Producer, SportEvent, ms_to_datetime
from feeds.protocol import rest
from feeds.services import descriptions
from tests.factories import make_api_key
from tests.feeds.helpers import (
    apply,
    bet_cancel,
    bet_stop,
    odds_change,
    rollback_cancel,
    rollback_settlement,
    sample,
    settlement,
)

pytestmark = pytest.mark.django_db

EVENT = "sr:match:43000001"
LIVE, PREMATCH = 1, 3
KEY = "hi.-.live.odds_change.1.sr:match.43000001.-"


@pytest.fixture
def api(client):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(scopes=('feeds',))[1]}"
    return client


@pytest.fixture
def scenario():
    for kind, name in (
        ("match_status", "rest_match_status_1.xml"),
        ("void_reasons", "rest_void_reasons_1.xml"),
        ("betting_status", "rest_betting_status_1.xml"),
        ("betstop_reasons", "rest_betstop_reasons_1.xml"),
    ):
        descriptions.codes_store(kind, rest.parse_code_list(sample(name)))
    outcomes = [
        apply(
            odds_change(
                event=EVENT,
                ts=1000,
                status=(1, 6, 1, 0),
                markets=[
                    (1, "", 1, {"1": "2.10", "2": "3.40", "3": "3.60"}),
                    (18, "total=2.5", 1, {"12": "1.85", "13": "1.95"}),
                    (18, "total=3.5", 1, {"12": "2.90", "13": "1.40"}),
                ],
            ),
            routing_key=KEY,
        )[0],
        # The live producer settles the 1X2 with a dead heat; the prematch producer voids half.
        *apply(
            settlement(event=EVENT, ts=5000, product=LIVE, markets=[(1, "", {"1": (1, None, "0.5"), "2": 0, "3": 0})]),
            settlement(
                event=EVENT, ts=5001, product=PREMATCH, certainty=1, markets=[(1, "", {"1": (-1, "0.5", None)})]
            ),
            rollback_settlement(event=EVENT, ts=6000, product=PREMATCH, markets=[(1, "")]),
            # a settlement the rollback overtook: stale
            settlement(event=EVENT, ts=5500, product=PREMATCH, markets=[(1, "", {"1": 1})]),
            # a cancel window on total 2.5, rolled back; an open-ended one on total 3.5
            bet_cancel(event=EVENT, ts=3000, markets=[(18, "total=2.5")], start=2000, end=2500),
            rollback_cancel(event=EVENT, ts=3100, markets=[(18, "total=2.5")], start=2000, end=2500),
            bet_cancel(event=EVENT, ts=3200, markets=[(18, "total=3.5")], start=2600),
            bet_stop(event=EVENT, ts=4000, groups="all"),
            bet_stop(event=EVENT, ts=4000, groups="all"),  # redelivered: duplicate
            b"<odds_change product='1'",  # truncated: rejected
        ),
    ]
    return outcomes


def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def test_event_and_lines_match_the_stored_state(api, scenario):
    data = api.get(reverse("feeds-event-markets", args=[EVENT])).json()
    event = SportEvent.objects.get(urn=EVENT)
    assert event.sport_id == 1  # from the routing key
    assert data["event"] == {
        "event_urn": EVENT,
        "name": event.name,
        "sport_id": event.sport_id,
        "sport_name": event.sport_name,
        "category_name": event.category_name,
        "tournament_urn": event.tournament_urn,
        "tournament_name": event.tournament_name,
        "scheduled": _dt(event.scheduled),
        "start_time_tbd": event.start_time_tbd,
        "competitors": [],
        "status": 1,
        "status_name": "live",
        "match_status": 6,
        "match_status_name": "1st half",
        "home_score": "1",
        "away_score": "0",
        "status_time": _dt(ms_to_datetime(1000)),
        "betting_status": event.betting_status,
        "betting_status_name": "",
        "betstop_reason": event.betstop_reason,
        "betstop_reason_name": "",
        "fixture_loaded": False,
    }
    lines = {(line["market_id"], line["specifiers"]): line for line in data["markets"]}
    assert set(lines) == set(Market.objects.values_list("market_id", "specifiers"))
    for market in Market.objects.filter(event=event):
        line = lines[(market.market_id, market.specifiers)]
        assert line["status"] == market.status == -1 and line["status_name"] == "suspended"
        assert line["bet_stop"] == {"stopped": True, "next_betstop": None}
        assert line["producer_id"] == market.producer_id == LIVE
        assert line["odds_updated_at"] == _dt(ms_to_datetime(market.odds_ts))
        assert line["last_message_time"] == _dt(ms_to_datetime(market.last_ts)) == _dt(ms_to_datetime(4000))
        assert line["producer_up"] is False and line["fresh"] is False and line["stale_reason"] == "producer 1 is down"
        assert {o["id"]: (o["odds"], o["active"]) for o in line["outcomes"]} == {
            oid: (state["odds"], state["active"]) for oid, state in market.outcomes.items()
        }
        settlements = {s["producer_id"]: s for s in line["settlements"]}
        assert set(settlements) == set(
            MarketSettlement.objects.filter(market=market).values_list("producer_id", flat=True)
        )
        for row in MarketSettlement.objects.filter(market=market):
            got = settlements[row.producer_id]
            assert got["certainty"] == row.certainty and got["void_reason"] == row.void_reason
            assert got["message_time"] == _dt(ms_to_datetime(row.message_ts))
            assert {o["id"]: (o["result"], o["void_factor"], o["dead_heat_factor"]) for o in got["outcomes"]} == {
                oid: (s["result"], s.get("void_factor"), s.get("dead_heat_factor")) for oid, s in row.outcomes.items()
            }
        cancels = line["cancels"]
        rows = list(BetCancel.objects.filter(market=market).order_by("id"))
        assert len(cancels) == len(rows)
        for got, row in zip(cancels, rows, strict=True):
            assert got == {
                "producer_id": row.producer_id,
                "start_time": _dt(row.start_time),
                "end_time": _dt(row.end_time),
                "void_reason": row.void_reason,
                "void_reason_name": "INCORRECT_ODDS",
                "superceded_by": row.superceded_by,
                "active": row.active,
                "rolled_back": row.rollback_ts is not None,
                "cancel_time": _dt(ms_to_datetime(row.cancel_ts)),
                "rollback_time": _dt(ms_to_datetime(row.rollback_ts)),
            }

    # What the scenario says, in the API's words.
    winner = lines[(1, "")]
    live, prematch = (next(s for s in winner["settlements"] if s["producer_id"] == p) for p in (LIVE, PREMATCH))
    assert (live["rolled_back"], live["certainty"]) == (False, 2)
    assert [(o["id"], o["result"], o["dead_heat_factor"]) for o in live["outcomes"]] == [
        ("1", 1, "0.5"),
        ("2", 0, None),
        ("3", 0, None),
    ]
    assert prematch["rolled_back"] is True and prematch["outcomes"] == []
    assert prematch["rolled_back_time"] == _dt(ms_to_datetime(6000))
    (closed,) = lines[(18, "total=2.5")]["cancels"]
    assert (closed["active"], closed["rolled_back"]) == (False, True)
    assert closed["start_time"] == _dt(ms_to_datetime(2000)) and closed["end_time"] == _dt(ms_to_datetime(2500))
    (open_ended,) = lines[(18, "total=3.5")]["cancels"]
    assert (open_ended["active"], open_ended["rolled_back"], open_ended["end_time"]) == (True, False, None)


def test_journal_filters_by_outcome_event_kind_and_time(api, scenario):
    url = reverse("feeds-journal")
    everything = api.get(url).json()["results"]
    rows = list(FeedMessage.objects.order_by("-id"))
    assert [r["id"] for r in everything] == [r.pk for r in rows]
    for got, row in zip(everything, rows, strict=True):
        assert (got["kind"], got["outcome"], got["reason"], got["event_urn"], got["routing_key"]) == (
            row.kind,
            row.outcome,
            row.reason,
            row.event_urn,
            row.routing_key,
        )
        assert got["message_ts"] == row.message_ts and got["received_at"] == _dt(row.received_at)
        assert "body" not in got
    stale = api.get(url, {"outcome": "stale"}).json()["results"]
    assert [(r["kind"], r["product"]) for r in stale] == [("bet_settlement", PREMATCH)]
    assert [r["kind"] for r in api.get(url, {"outcome": "duplicate"}).json()["results"]] == ["bet_stop"]
    (rejected,) = api.get(url, {"outcome": "rejected"}).json()["results"]
    assert rejected["reason"].startswith("malformed") and rejected["event_urn"] == ""
    assert {r["event_urn"] for r in api.get(url, {"event": EVENT}).json()["results"]} == {EVENT}
    assert len(api.get(url, {"event": EVENT, "kind": "bet_cancel"}).json()["results"]) == 2
    first = rows[-1].received_at
    assert api.get(url, {"until": first.isoformat()}).json()["results"] == []
    assert len(api.get(url, {"since": first.isoformat()}).json()["results"]) == len(rows)
    page = api.get(url, {"page_size": 3}).json()
    assert len(page["results"]) == 3 and page["next"]
    bad = api.get(url, {"outcome": "lost"})
    assert bad.status_code == 400 and "outcome" in bad.content.decode()


def test_producers_with_the_reason_for_their_state(api, scenario):
    Producer.objects.filter(pk=LIVE).update(status="down", status_reason="alive with subscribed=0")
    data = {p["id"]: p for p in api.get(reverse("feeds-producers")).json()}
    assert data[LIVE]["status"] == "down" and data[LIVE]["status_reason"] == "alive with subscribed=0"
    assert data[LIVE]["usable"] is False and data[LIVE]["recovery_id"] is None


def test_a_key_without_the_feeds_scope_is_refused(client, scenario):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {make_api_key(scopes=('read',))[1]}"
    for url in (reverse("feeds-event-markets", args=[EVENT]), reverse("feeds-journal"), reverse("feeds-producers")):
        assert client.get(url).status_code == 403


def test_every_read_view_declares_the_feeds_scope_and_is_in_the_schema(api):
    from feeds import views

    for view in (views.EventMarkets, views.Producers, views.Journal):
        assert view.required_scope == "feeds"
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    markets = paths["/api/operator/feeds/events/{urn}/markets"]["get"]
    assert "examples" in markets["responses"]["200"]["content"]["application/json"]
    assert {"outcome", "event", "since", "until"} <= {
        p["name"] for p in paths["/api/operator/feeds/journal"]["get"]["parameters"]
    }
    line = schema["components"]["schemas"]["FeedLineOut"]["properties"]
    assert {"settlements", "cancels", "bet_stop", "fresh"} <= set(line)
