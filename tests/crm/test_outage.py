"""Fast Track outages pause delivery and never dead-letter anyone; a worker crash re-sends only
what was in flight; only what the endpoint refuses as invalid is dead-lettered."""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from config.logthrottle import Throttled
from crm import breaker, claims, conf, services, tasks
from crm.models import OutboxEvent
from crm.services import deliver_pending, recover_expired_leases
from crm.transports import Message, Transport, set_override
from crm.transports.rest import RestTransport
from tests.crm.conftest import API_KEY, place, rows, settle
from tests.crm.test_delivery import activity, assert_player_order
from tests.factories import fund, make_player

pytestmark = pytest.mark.django_db

Status = OutboxEvent.Status


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


@pytest.fixture
def players():
    result = []
    for name in ("ann", "ben", "cat"):
        player = make_player(name)
        fund(player, "100.00")
        result.append(player)
    return result


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_hours_of_outage_dead_letter_nobody_and_it_resumes_in_order(players, simulator, rest, status):
    activity([(p, n) for n in (1, 2) for p in players])
    simulator.fail_with(status)

    clock = 0.0
    for _ in range(60):  # an attempt every 3 minutes for three hours
        clock += 180
        assert deliver_pending(transport=rest, now=later(clock)).paused
    assert simulator.requests == 120  # each probe tried two events, then stopped
    assert {(r.status, r.attempts) for r in rows()} == {(Status.PENDING, 0)}
    assert breaker.is_open()

    simulator.recover()
    back = deliver_pending(transport=rest, now=later(clock + conf.PROBE_SECONDS))
    assert len(back.delivered) == len(rows()) == 12
    assert not breaker.is_open()
    assert_player_order(simulator, players)
    assert simulator.duplicates() == {}


class _Silent:
    """A TCP endpoint that accepts connections and never answers (a hung Fast Track)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


def test_the_outage_shows_in_the_status_and_in_metrics(players, simulator, rest):
    from config.ops import exposition
    from crm.selectors import outbox_stats

    activity([(players[0], 1)])
    simulator.fail_with(503)
    OutboxEvent.objects.update(next_attempt_at=later(-60))
    deliver_pending(transport=rest, now=later(-30))  # down since half a minute ago…
    deliver_pending(transport=rest)  # …and still down (a probe)
    assert outbox_stats().pending == 2
    assert 29 < outbox_stats().unavailable_seconds < 60
    assert "touchline_crm_fasttrack_unavailable_seconds 3" in exposition().decode()

    simulator.recover()
    deliver_pending(transport=rest, now=later(conf.PROBE_SECONDS))
    assert outbox_stats().unavailable_seconds == 0 and outbox_stats().pending == 0


def test_timeouts_are_an_outage_and_stop_after_two_events(players):
    activity([(p, 1) for p in players])
    silent = _Silent()
    try:
        started = time.monotonic()
        result = deliver_pending(transport=RestTransport(silent.url, API_KEY, timeout=0.3, connect_timeout=0.3))
        assert time.monotonic() - started < 2  # two timeouts, not one per claimed event
    finally:
        silent.close()
    assert result.paused
    assert {(r.status, r.attempts) for r in rows()} == {(Status.PENDING, 0)}
    assert sum("timeout" in r.last_error for r in rows()) == 2


def test_an_event_that_fails_while_others_go_through_is_counted_and_backed_off(players, simulator, rest, monkeypatch):
    """The endpoint is up (it takes the other players' events): the failure is about this event."""
    monkeypatch.setattr(conf, "MAX_ATTEMPTS", 3)
    activity([(p, 1) for p in players])
    first = rows(player=players[0])[0]

    for attempt in (1, 2, 3):
        place(players[1], "1.00", f"ben-more-{attempt}")  # the endpoint keeps taking ben's events
        simulator.fail_with(500, count=1)  # the first request of each round: ann's head
        due = first.next_attempt_at
        now = later(3600 * attempt)
        deliver_pending(transport=rest, now=now)
        first.refresh_from_db()
        assert first.attempts == attempt
        # backed off from now; a dead letter keeps the due time it had
        assert first.next_attempt_at == (due if attempt == 3 else now + claims.backoff(attempt))
    assert first.status == Status.DEAD  # it keeps failing while the others are accepted
    assert not breaker.is_open()
    assert {r.status for r in rows(player=players[1])} == {Status.DELIVERED}


def test_only_what_the_endpoint_refuses_as_invalid_is_dead_at_once(players, simulator, rest):
    activity([(players[0], 1)])
    simulator.fail_with(422, count=1)
    deliver_pending(transport=rest)
    assert [(r.status, r.attempts) for r in rows()] == [(Status.DEAD, 1), (Status.PENDING, 0)]
    assert not breaker.is_open()  # a refusal is an answer: the endpoint is up


class Crash(BaseException):
    """The worker process dies (SIGKILL): nothing after this line of the worker runs."""


class CrashingTransport(Transport):
    name = "crashing"

    def __init__(self, inner: Transport, crash_at: int) -> None:
        self.inner, self.crash_at, self.sends = inner, crash_at, 0

    def send(self, message: Message) -> None:
        self.sends += 1
        if self.sends == self.crash_at:
            raise Crash()
        self.inner.send(message)


def test_after_a_worker_crash_only_the_rows_in_flight_are_sent_again(players, simulator, rest):
    activity([(p, 1) for p in players])  # per player: Bet, then Settlement (two waves of three)
    with pytest.raises(Crash):
        deliver_pending(transport=CrashingTransport(rest, crash_at=5))  # mid second wave
    assert {r.status for r in rows(event_type="Bet")} == {Status.DELIVERED}  # the first wave was recorded
    assert len(simulator.received) == 4

    assert recover_expired_leases(now=later(conf.LEASE_SECONDS + 1)) == 3  # the second wave only
    deliver_pending(transport=rest, now=later(conf.LEASE_SECONDS + 2))
    assert {(r.status, r.attempts) for r in rows()} == {(Status.DELIVERED, 1)}
    assert len(simulator.duplicates()) == 1  # the one event sent just before the crash
    received = list(dict.fromkeys(simulator.activity_ids()))  # first arrivals
    for player in players:
        mine = [r.activity_id for r in rows(player=player)]
        assert [a for a in received if a in mine] == mine


def test_a_lease_is_renewed_while_the_worker_is_still_sending(players, simulator, rest, monkeypatch):
    """A slow endpoint: rows not yet sent get a fresh lease as the worker goes, so nobody
    takes them from a worker that is alive (and nobody re-sends what it is sending)."""
    monkeypatch.setattr(conf, "LEASE_SECONDS", 1)
    activity([(players[0], 1)])
    place(players[0], "1.00", "ann-extra")  # three rows of one player: three waves
    leases = []

    class Slow(Transport):
        name = "slow"

        def send(self, message: Message) -> None:
            leases.append(max(r.leased_until for r in rows(status=Status.SENDING)))
            time.sleep(0.35)
            rest.send(message)

    result = deliver_pending(transport=Slow())
    assert len(result.delivered) == 3 and result.lost == 0
    assert leases[2] > leases[0]  # renewed while sending
    assert recover_expired_leases(now=timezone.now()) == 0


def test_a_long_fast_track_outage_logs_once_per_interval(caplog, simulator, rest, monkeypatch):
    """One line when it starts (then one a minute with a count), one when it is back: none per event."""
    monkeypatch.setattr(breaker, "throttled", Throttled(breaker.logger))
    monkeypatch.setattr(services, "throttled", Throttled(services.logger))
    for name in ("ann", "ben"):
        player = make_player(name)
        fund(player, "10.00")
        place(player, "1.00", f"{name}-1")
    simulator.fail_with(503)
    for minute in range(30):
        deliver_pending(transport=rest, now=timezone.now() + timedelta(minutes=minute))
    assert sum("fasttrack unavailable" in r.getMessage() for r in caplog.records) == 1
    assert not any("failed (attempt" in r.getMessage() for r in caplog.records)  # no line per event

    simulator.recover()
    deliver_pending(transport=rest, now=timezone.now() + timedelta(minutes=31))
    assert sum("fasttrack is back" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.redis
def test_the_breaker_is_shared_through_redis_and_a_probe_is_scheduled(settings, simulator, monkeypatch):
    """With a real broker: an outage opens one deployment-wide breaker, one probe task is queued
    for the probe time, and the probe resumes delivery."""
    import redis

    from config.celery import app

    url = os.environ.get("TOUCHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis is not reachable at {url}")
    monkeypatch.setattr(conf, "PROBE_SECONDS", 1)
    settings.FASTTRACK_TRANSPORT = "rest"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    previous = app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue
    queue = f"tl_crm_probe_{os.getpid()}"
    app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = url, False, queue
    from django.core.cache import cache

    keys = [breaker.STATE_KEY, breaker.PROBE_KEY, tasks.PROBE_SCHEDULED_KEY, tasks.KICK_KEY]
    cache.delete_many(keys)
    client.delete(queue)
    player = make_player("dan")
    fund(player, "10.00")
    simulator.fail_with(503)
    set_override(RestTransport(simulator.url, API_KEY, timeout=2, connect_timeout=1))
    try:
        placed = place(player, "1.00", "dan-1")  # the on-commit kick queues a task; run it here
        settle(placed.bet.pk, "0", "lost")
        client.delete(queue)
        assert tasks.deliver_outbox() == 0
        assert cache.get(breaker.STATE_KEY)["error"].startswith("HTTP 503")
        assert client.llen(queue) == 1  # the probe, due in PROBE_SECONDS
        assert tasks.deliver_outbox() == 0  # another worker meanwhile: paused, no second probe
        assert client.llen(queue) == 1 and simulator.requests == 1

        simulator.recover()
        time.sleep(1.1)
        assert tasks.deliver_outbox() == 2
        assert cache.get(breaker.STATE_KEY) is None
        assert [r.status for r in rows()] == [Status.DELIVERED, Status.DELIVERED]
    finally:
        wait_idle = threading.Event()
        deadline = time.monotonic() + 2
        while tasks._kicker.busy and time.monotonic() < deadline:
            wait_idle.wait(0.01)
        cache.delete_many(keys)
        client.delete(queue)
        app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = previous
