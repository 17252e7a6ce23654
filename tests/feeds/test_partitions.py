"""Several consumers, each a share of the feed: applied concurrently, the final state equals
one consumer's; producer health stays correct with one recovery per producer.

The RabbitMQ tests use the vhost of TOUCHLINE_TEST_AMQP_URL and PostgreSQL (consumers write
from their own threads)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from feeds.models import (
    BetCancel,
    FeedConsumer,
    FeedMessage,
    Market,
    MarketSettlement,
    Producer,
    RecoveryRequest,
    SportEvent,
)
from feeds.protocol.routing import bindings, build_routing_key
from feeds.services import consumers, producers
from feeds.simulator import AmqpSink
from tests.feeds.helpers import alive, bet_cancel, odds_change, rabbitmq_available, rollback_settlement, settlement
from tests.feeds.test_consumer_rabbitmq import URL, consume, exchange  # noqa: F401 (fixtures)
from tests.waiting import wait_for

EVENTS = [f"sr:match:{50_000 + i}" for i in range(24)]
SPORT = {event: (1, 5)[i % 2] for i, event in enumerate(EVENTS)}  # soccer and tennis, for partitions by sport


def test_share_of_an_event_from_its_routing_key():
    key = build_routing_key(message_type="odds_change", sport_id=1, event_urn="sr:match:50001", live=True)
    shares = {consumers.event_share(key, 2) for _ in range(3)}
    assert len(shares) == 1 and shares <= {0, 1}
    assert consumers.event_share("-.-.-.alive.-.-.-.-", 2) is None
    assert consumers.event_share("not a key", 2) is None
    # the events spread over both shares
    split = {consumers.event_share(build_routing_key(message_type="odds_change", event_urn=e), 2) for e in EVENTS}
    assert split == {0, 1}
    assert consumers.parse_share("1/3") == (1, 3)
    for bad in ("3/3", "x", "1/0", "-1/2"):
        with pytest.raises(ValueError):
            consumers.parse_share(bad)


def _traffic() -> list[tuple[str, bytes]]:
    """Prices that move three times, settlements, a rollback, cancels, a stale and a duplicate
    message per event, and the producers' alives."""
    out: list[tuple[str, bytes]] = []

    def send(kind: str, event: str, body: str, *, live: bool = True) -> None:
        key = build_routing_key(message_type=kind, sport_id=SPORT[event], event_urn=event, live=live, prematch=not live)
        out.append((key, body.encode()))

    for step in range(3):
        for i, event in enumerate(EVENTS):
            ts = 10_000 + step * 1000 + i
            odds = f"{1.5 + step / 10 + i / 100:.2f}"
            send(
                "odds_change",
                event,
                odds_change(
                    event=event,
                    ts=ts,
                    status=(1, 6, step, 0),
                    markets=[(1, "", 1, {"1": odds, "2": "3.10", "3": "4.00"}), (18, "total=2.5", 1, {"12": odds})],
                ),
            )
        out.append(("-.-.-.alive.-.-.-.-", alive(1, ts=10_000 + step * 1000).encode()))
    for i, event in enumerate(EVENTS):
        send("odds_change", event, odds_change(event=event, ts=9_000, markets=[(1, "", 1, {"1": "9.99"})]))  # stale
        send("bet_settlement", event, settlement(event=event, ts=20_000, markets=[(1, "", {"1": 1, "2": 0})]))
        if i % 3 == 0:
            send("rollback_bet_settlement", event, rollback_settlement(event=event, ts=21_000, markets=[(1, "")]))
        send("bet_cancel", event, bet_cancel(event=event, ts=22_000, markets=[(18, "total=2.5")], start=11_000))
        send("bet_cancel", event, bet_cancel(event=event, ts=22_000, markets=[(18, "total=2.5")], start=11_000))
    return out


def _state() -> dict[str, object]:
    return {
        "events": sorted(
            SportEvent.objects.values_list("urn", "sport_id", "status", "match_status", "home_score", "odds_ts")
        ),
        "markets": sorted(
            (m.event.urn, m.market_id, m.specifiers, m.status, m.producer_id, m.outcomes, m.odds_ts, m.last_ts)
            for m in Market.objects.select_related("event")
        ),
        "settlements": sorted(
            (s.market.event.urn, s.market.market_id, s.producer_id, s.outcomes, s.message_ts)
            for s in MarketSettlement.objects.select_related("market__event")
        ),
        "cancels": sorted(
            (c.market.event.urn, c.market.market_id, c.window_key, c.active, c.cancel_ts, c.rollback_ts)
            for c in BetCancel.objects.select_related("market__event")
        ),
        "outcomes": sorted(
            FeedMessage.objects.exclude(kind="alive").values_list("event_urn", "kind", "message_ts", "outcome")
        ),
    }


def _publish(exchange_name: str, traffic) -> None:
    sink = AmqpSink(URL, exchange_name)
    for key, body in traffic:
        sink.send(key, body)
    sink.close()


def _single_consumer_state(exchange_name: str, start_consumer, traffic) -> dict:
    """The state one consumer of everything leaves; then the feed tables are emptied again."""
    one = start_consumer(bindings("all"), name="one", prefetch=100, batch_size=20, mark_down_on_connect=False)
    _publish(exchange_name, traffic)
    wait_for(lambda: one.stats.messages == len(traffic), timeout=60)
    single = _state()
    one.stop.set()
    wait_for(lambda: not FeedConsumer.objects.filter(name="one").exists())  # a clean stop deregisters
    SportEvent.objects.all().delete()
    FeedMessage.objects.all().delete()
    return single


def _event_messages(traffic) -> int:
    return sum(1 for key, _ in traffic if consumers.event_share(key, 2) is not None)


@pytest.mark.rabbitmq
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not rabbitmq_available(), reason="needs the local RabbitMQ on 127.0.0.1:5672")
def test_two_consumers_apply_disjoint_shares_concurrently_and_end_where_one_does(
    exchange,  # noqa: F811
    consume,  # noqa: F811
    postgres_only,
):
    traffic = _traffic()
    events = _event_messages(traffic)
    alives = len(traffic) - events

    single = _single_consumer_state(exchange, consume, traffic)
    a = consume(bindings("all"), name="a", share=(0, 2), prefetch=100, batch_size=20, mark_down_on_connect=False)
    b = consume(bindings("all"), name="b", share=(1, 2), prefetch=100, batch_size=20, mark_down_on_connect=False)
    assert set(FeedConsumer.objects.values_list("name", "share")) == {("a", "0/2"), ("b", "1/2")}
    _publish(exchange, traffic)
    # Each applies its own events and every alive; the other share's messages are acked unparsed.
    wait_for(lambda: a.stats.messages + b.stats.messages == events + 2 * alives, timeout=60)
    assert a.stats.skipped + b.stats.skipped == events
    assert a.stats.messages > alives and b.stats.messages > alives  # both shares had work
    both = _state()
    assert both["outcomes"] == single["outcomes"]
    assert both == single
    stale = FeedMessage.objects.filter(outcome="stale", kind="odds_change").count()
    assert stale == len(EVENTS)


@pytest.mark.rabbitmq
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not rabbitmq_available(), reason="needs the local RabbitMQ on 127.0.0.1:5672")
def test_two_consumers_bound_by_sport_receive_only_their_sport_and_end_where_one_does(
    exchange,  # noqa: F811
    consume,  # noqa: F811
    postgres_only,
):
    """Partitions by routing-key interest: the broker sends each consumer only its sport's
    messages (and every alive), so neither reads and skips the other's, as --share must."""
    traffic = _traffic()
    events = _event_messages(traffic)
    alives = len(traffic) - events

    single = _single_consumer_state(exchange, consume, traffic)
    soccer = consume(
        bindings("all", sports=(1,)), name="soccer", prefetch=100, batch_size=20, mark_down_on_connect=False
    )
    tennis = consume(
        bindings("all", sports=(5,)), name="tennis", prefetch=100, batch_size=20, mark_down_on_connect=False
    )
    _publish(exchange, traffic)
    wait_for(lambda: soccer.stats.messages + tennis.stats.messages == events + 2 * alives, timeout=60)
    assert soccer.stats.skipped == tennis.stats.skipped == 0  # nothing delivered that was not theirs
    assert soccer.stats.messages == tennis.stats.messages == events // 2 + alives
    assert set(SportEvent.objects.filter(urn__in=EVENTS[0::2]).values_list("urn", flat=True)) == set(EVENTS[0::2])
    assert _state() == single


@pytest.mark.django_db(transaction=True)
def test_producer_down_while_a_partitions_consumer_is_dead_then_one_recovery(uof_client, fake_api, postgres_only):
    producers.producers_sync(uof_client)
    now = timezone.now()
    Producer.objects.filter(pk=1).update(status="up", subscribed=True, last_alive_at=now, last_alive_ts=1)
    FeedConsumer.objects.create(name="a", share="0/2", started_at=now, seen_at=now)
    # b crashed five minutes ago: its share of the feed is missing since.
    FeedConsumer.objects.create(name="b", share="1/2", started_at=now, seen_at=now - timedelta(minutes=5))

    report = producers.producers_check(uof_client)
    assert 1 in report.went_down
    live = Producer.objects.get(pk=1)
    assert live.status == "down" and live.status_reason.startswith("consumer b silent since")

    # Alives flow (consumer a applies them), but a recovery would not reach b's share: wait.
    Producer.objects.filter(pk=1).update(last_alive_at=timezone.now())
    report = producers.producers_check(uof_client)
    assert report.requested == [] and "consumer b silent" in report.waiting[1]
    assert RecoveryRequest.objects.count() == 0 and fake_api.recoveries == []

    # b is back (its heartbeat); every consumer and beat nudge the check at once: one recovery.
    consumers.heartbeat("b", keys=["#"], share="1/2")
    Producer.objects.filter(pk=1).update(last_alive_at=timezone.now())
    barrier = threading.Barrier(4)
    requested: list[int] = []

    def check() -> None:
        from django.db import connection

        barrier.wait()
        try:
            requested.extend(producers.producers_check(uof_client).requested)
        finally:
            connection.close()

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert RecoveryRequest.objects.filter(producer_id=1).count() == 1
    assert len([r for r in fake_api.recoveries if r["product"] == 1]) == 1
    assert Producer.objects.get(pk=1).status == "recovering"
    assert len([r for r in requested if RecoveryRequest.objects.get(pk=r).producer_id == 1]) == 1


@pytest.mark.django_db
def test_forget_a_dead_consumer(capsys):
    now = timezone.now()
    FeedConsumer.objects.create(name="b", started_at=now, seen_at=now - timedelta(hours=1))
    assert [c.name for c in consumers.silent_consumers()] == ["b"]
    call_command("uof_consume", forget="b")
    assert not FeedConsumer.objects.exists()
    with pytest.raises(CommandError, match="no consumer named 'b'"):
        call_command("uof_consume", forget="b")
    with pytest.raises(CommandError, match="--share"):
        call_command("uof_consume", share="2/2", url="amqp://x")


def test_default_names_are_stable_across_restarts():
    keys = bindings("live", node_id=1)
    assert consumers.default_name(keys, "0/2") == consumers.default_name(list(reversed(keys)), "0/2")
    assert consumers.default_name(keys, "0/2") != consumers.default_name(keys, "1/2")


@pytest.mark.django_db
def test_the_producer_is_up_when_every_running_consumer_applied_the_snapshot_complete(uof_client, fake_api):
    from feeds.services.ingest import Incoming, apply_parsed, parse_batch
    from tests.feeds.helpers import snapshot_complete

    producers.producers_sync(uof_client)
    now = timezone.now()
    for name in ("a", "b"):
        FeedConsumer.objects.create(name=name, started_at=now, seen_at=now)
    Producer.objects.filter(pk=1).update(last_alive_at=now)
    (request_id,) = producers.producers_check(uof_client).requested

    def apply_as(consumer: str):
        (outcome,) = apply_parsed(
            parse_batch([Incoming(snapshot_complete(request_id).encode())]), consumer=consumer
        ).outcomes
        return outcome

    first = apply_as("a")
    assert (first.outcome, first.reason) == ("applied", "snapshot complete for a; waiting for b")
    assert Producer.objects.get(pk=1).status == "recovering"  # b may still be applying its share
    assert RecoveryRequest.objects.get(pk=request_id).status == "accepted"
    assert apply_as("b").reason == "producer 1 up"
    assert Producer.objects.get(pk=1).status == "up"
    request = RecoveryRequest.objects.get(pk=request_id)
    assert request.status == "completed" and request.snapshot_by == ["a", "b"]


@pytest.mark.django_db
def test_the_admin_reads_the_consumers_and_which_are_silent():
    from feeds import selectors

    now = timezone.now()
    FeedConsumer.objects.create(name="a", share="0/2", started_at=now, seen_at=now)
    FeedConsumer.objects.create(name="b", share="1/2", started_at=now, seen_at=now - timedelta(minutes=5))
    assert [(c.name, c.share, c.silent) for c in selectors.feed_consumers()] == [
        ("a", "0/2", False),
        ("b", "1/2", True),
    ]
