"""The simulator speaks the wire format, and with the fake REST API it drives the whole
producer lifecycle through the real apply pipeline (no broker): startup recovery, an outage,
recovery from where we were, settlements at full time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from feeds import conf
from feeds.models import FeedMessage, MarketSettlement, Producer, RecoveryRequest, SportEvent
from feeds.protocol.client import UofClient
from feeds.protocol.messages import parse_message
from feeds.protocol.routing import parse_routing_key
from feeds.services import fixtures, producers
from feeds.simulator import DirectSink, FakeUofApi, FeedSimulator, ListSink
from tests.feeds.helpers import TOKEN


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run(sim: FeedSimulator, clock: Clock, seconds: float, step: float = 0.5) -> None:
    end = clock.t + seconds
    while clock.t < end:
        clock.t += step
        sim.step()


def test_generated_traffic_parses_and_is_routed_like_the_feed():
    clock, sink = Clock(), ListSink()
    sim = FeedSimulator(sink, events=3, rate=20, seed=7, match_seconds=40, prematch_seconds=10, clock=clock)
    sim.publish_samples()
    run(sim, clock, 120)
    kinds = set()
    for key, body in sink.messages:
        msg = parse_message(body)
        routed = parse_routing_key(key)
        assert routed.message_type == msg.kind
        kinds.add(msg.kind)
        if msg.kind in ("alive", "snapshot_complete"):
            assert key.startswith("-.-.-.")
        else:
            assert routed.event_urn == msg.event_urn
            assert routed.priority == (
                "lo" if msg.kind in ("bet_settlement", "rollback_bet_settlement", "rollback_bet_cancel") else "hi"
            )
            if msg.product == 1 and not key.startswith("-"):
                assert routed.live
    assert kinds == {
        "alive", "fixture_change", "odds_change", "bet_stop", "bet_settlement", "bet_cancel",
        "rollback_bet_cancel", "rollback_bet_settlement", "snapshot_complete",
    }  # fmt: skip


@pytest.mark.django_db
def test_full_lifecycle_through_the_apply_pipeline(monkeypatch):
    monkeypatch.setattr(conf, "RECOVERY_MIN_INTERVAL_SECONDS", 0)
    clock = Clock()
    sink = DirectSink(batch_size=50)
    sim = FeedSimulator(
        sink, events=2, rate=10, seed=3, match_seconds=60, prematch_seconds=10, node_id=conf.node_id(), clock=clock
    )
    with FakeUofApi(token=TOKEN, simulator=sim) as api, UofClient(api.base_url, TOKEN) as uof_client:
        producers.producers_sync(uof_client)
        run(sim, clock, 2)
        assert Producer.objects.get(pk=1).status == "down"

        # Start-up: alives flow, so both producers are recovered (full recovery: nothing stored).
        report = producers.producers_check(uof_client)
        assert len(report.requested) == 2
        run(sim, clock, 1)
        assert set(Producer.objects.values_list("status", flat=True).filter(pk__in=[1, 3])) == {"up"}
        assert {r["after"] for r in api.recoveries} == {None}
        recovered = FeedMessage.objects.filter(kind="odds_change", request_id__in=report.requested)
        assert recovered.exists() and all(m.routing_key.endswith(f".{conf.node_id()}") for m in recovered)

        fixtures.fixtures_fetch(uof_client)
        assert (
            SportEvent.objects.filter(urn__startswith="sr:match:7000", fixture_needed=False).exclude(name="").count()
            >= 2
        )

        # Outage of the live producer: silence for longer than the alive window.
        run(sim, clock, 12)  # some live traffic and alives while up
        last_up = Producer.objects.get(pk=1).recover_after_ts
        sim.outage(1, 25)
        run(sim, clock, 5)
        # (the simulator's clock is simulated: age the last alive in real time to match)
        silent_since = timezone.now() - timedelta(seconds=conf.ALIVE_WINDOW_SECONDS + 1)
        Producer.objects.filter(pk=1).update(last_alive_at=silent_since)
        assert producers.producers_check(uof_client).went_down == [1]
        run(sim, clock, 25)  # alives resume after the outage
        report = producers.producers_check(uof_client)
        (request_id,) = report.requested
        assert api.recoveries[-1]["after"] == str(last_up)
        run(sim, clock, 1)
        assert Producer.objects.get(pk=1).status == "up"
        assert RecoveryRequest.objects.get(pk=request_id).status == "completed"

        # Play on to full time: settlements arrive.
        run(sim, clock, 90)
        sink.flush()
    assert MarketSettlement.objects.exists()
    assert not FeedMessage.objects.filter(outcome__in=["rejected", "failed"]).exists()
