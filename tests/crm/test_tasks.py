"""Delivery is triggered on commit (never inside the money transaction) and by the beat sweeper."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from config.celery import app
from config.logthrottle import Throttled
from crm import conf, tasks
from crm.models import OutboxEvent
from crm.transports import reset_transports
from tests.crm.conftest import API_KEY, SELECTION, place, wallet
from tests.factories import fund, make_player
from tests.waiting import wait_for
from wallet.services.postings import bet_place_apply


@pytest.fixture
def rest_settings(settings, simulator):
    settings.FASTTRACK_TRANSPORT = "rest"
    settings.FASTTRACK_API_URL = simulator.url
    settings.FASTTRACK_API_KEY = API_KEY
    reset_transports()
    return settings


def test_beat_runs_the_sweeper():
    entry = app.conf.beat_schedule["crm-outbox-sweep"]
    assert entry["task"] == "crm.tasks.sweep_outbox"
    assert entry["task"] in app.tasks


@pytest.mark.django_db(transaction=True)
def test_a_committed_bet_is_delivered_after_commit_and_not_before(rest_settings, simulator):
    alice = make_player("alice")
    fund(alice, "20.00")
    with transaction.atomic():
        bet_place_apply(provider="betsy", external_id="b-1", wallet=wallet(alice), amount=Decimal("5.00"))
        assert OutboxEvent.objects.count() == 1  # the row exists inside the money transaction…
        assert simulator.requests == 0  # …but nothing has gone over the network yet
    assert simulator.activity_ids() == [OutboxEvent.objects.get().activity_id]
    assert OutboxEvent.objects.get().status == OutboxEvent.Status.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_money_transaction_leaves_no_event(rest_settings, simulator):
    alice = make_player("alice")
    fund(alice, "20.00")
    with pytest.raises(RuntimeError), transaction.atomic():
        bet_place_apply(provider="betsy", external_id="b-1", wallet=wallet(alice), amount=Decimal("5.00"))
        raise RuntimeError("the provider callback failed after the posting")
    assert OutboxEvent.objects.count() == 0 and simulator.requests == 0


@pytest.mark.django_db(transaction=True)
def test_sweeper_delivers_what_waited(settings, simulator):
    alice = make_player("alice")
    fund(alice, "20.00")
    place(alice, "5.00", "b-1", selections=[SELECTION])  # transport off: the row waits
    assert OutboxEvent.objects.get().status == OutboxEvent.Status.PENDING

    settings.FASTTRACK_TRANSPORT = "rest"
    settings.FASTTRACK_API_URL = simulator.url
    settings.FASTTRACK_API_KEY = API_KEY
    reset_transports()
    assert tasks.sweep_outbox.apply().get() == 1
    assert OutboxEvent.objects.get().status == OutboxEvent.Status.DELIVERED


@pytest.mark.redis
def test_kicks_are_coalesced_into_one_queued_task(settings):
    """With a real broker (Redis), a burst of commits queues one delivery task, not one each."""
    import redis

    url = os.environ.get("TOUCHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis is not reachable at {url}")
    settings.FASTTRACK_TRANSPORT = "rest"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    previous = app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue
    queue = f"tl_crm_test_{os.getpid()}"
    app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = url, False, queue
    from django.core.cache import cache

    cache.delete(tasks.KICK_KEY)
    client.delete(queue)
    try:
        kicked = datetime.now(UTC)
        for _ in range(5):
            tasks.kick()
        assert client.llen(queue) == 1
        assert cache.get(tasks.KICK_KEY) == 1  # the flag as cache.add would have set it
        assert client.ttl(cache.make_and_validate_key(tasks.KICK_KEY)) > 0  # it expires by itself
        # The task starts FASTTRACK_DELIVERY_DELAY_MS after the kick, so later commits ride on it.
        eta = datetime.fromisoformat(json.loads(client.lindex(queue, 0))["headers"]["eta"])
        assert timedelta(milliseconds=conf.DELIVERY_DELAY_MS - 50) <= eta - kicked <= timedelta(seconds=1)
        cache.delete(tasks.KICK_KEY)  # what the task does when it starts
        tasks.kick()  # inside this process's kick interval: the trailing kick asks the broker
        deadline = time.monotonic() + 2
        while client.llen(queue) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.llen(queue) == 2  # a commit after the task started queues a new one
        cache.delete(tasks.KICK_KEY)
        tasks.queue_delivery(delay_ms=0)  # a backlog's next task: at once
        assert json.loads(client.lindex(queue, 0))["headers"]["eta"] is None
    finally:
        wait_for(lambda: not tasks._kicker.busy)  # no trailing kick may outlive this broker set-up
        client.delete(queue)
        cache.delete(tasks.KICK_KEY)
        app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = previous
        app.pool.force_close_all()


class Recorder:
    """Stands in for the broker call: records when each kick reached it."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.sent = threading.Event()

    def __call__(self) -> None:
        self.times.append(time.monotonic())
        self.sent.set()


def test_a_burst_of_kicks_asks_the_broker_twice_first_and_after_the_last():
    record = Recorder()
    kicker = tasks.Kicker(record, lambda: 0.2)
    started = time.monotonic()
    for _ in range(500):
        kicker()
    last_kick = time.monotonic()
    assert len(record.times) == 1  # the first kick went at once, the rest wait
    wait_for(lambda: len(record.times) == 2)
    # The trailing kick came after the last commit's kick, and no sooner than the interval.
    assert record.times[1] >= last_kick
    assert record.times[1] - started >= 0.2
    time.sleep(0.3)
    assert len(record.times) == 2  # nothing more was due


def test_a_kick_after_a_quiet_interval_goes_at_once():
    record = Recorder()
    kicker = tasks.Kicker(record, lambda: 0.05)
    kicker()
    time.sleep(0.08)
    kicker()
    assert len(record.times) == 2
    time.sleep(0.1)
    assert len(record.times) == 2  # neither kick armed a trailing one


def test_every_kick_is_followed_by_a_send_within_the_interval():
    """Kicks spread over several intervals: whatever the timing, each is covered by a send at
    or after it, at most an interval (plus scheduling slack) later."""
    record = Recorder()
    interval = 0.03
    kicker = tasks.Kicker(record, lambda: interval)
    kicks = []
    for i in range(40):
        kicks.append(time.monotonic())
        kicker()
        time.sleep(0.004 * (i % 5))
    wait_for(lambda: record.times and record.times[-1] >= kicks[-1])
    time.sleep(interval * 2)
    for k in kicks:
        covering = [t for t in record.times if t >= k]
        assert covering and covering[0] - k <= interval + 0.05
    assert len(record.times) < len(kicks) / 2  # and most kicks did not ask the broker


def test_interval_zero_asks_on_every_kick():
    record = Recorder()
    kicker = tasks.Kicker(record, lambda: 0.0)
    for _ in range(5):
        kicker()
    assert len(record.times) == 5


def test_a_failing_trailing_kick_is_logged_and_the_next_one_still_goes(caplog, monkeypatch):
    monkeypatch.setattr(tasks, "throttled", Throttled(tasks.logger))
    calls = []

    def flaky() -> None:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise ConnectionError("redis is down")

    kicker = tasks.Kicker(flaky, lambda: 0.02)
    kicker()
    kicker()  # arms the trailing kick, which fails
    wait_for(lambda: len(calls) == 2)
    wait_for(lambda: "trailing kick: outbox kick failed" in caplog.text)
    time.sleep(0.03)
    kicker()
    kicker()
    wait_for(lambda: len(calls) >= 4)
