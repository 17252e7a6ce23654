"""Delivery is triggered on commit (never inside the money transaction) and by the beat sweeper."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from django.db import transaction

from config.celery import app
from crm import tasks
from crm.models import OutboxEvent
from crm.transports import reset_transports
from tests.crm.conftest import API_KEY, SELECTION, place, wallet
from tests.factories import fund, make_player
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
        for _ in range(5):
            tasks.kick()
        assert client.llen(queue) == 1
        cache.delete(tasks.KICK_KEY)  # what the task does when it starts
        tasks.kick()
        assert client.llen(queue) == 2  # a commit after the task started queues a new one
    finally:
        client.delete(queue)
        cache.delete(tasks.KICK_KEY)
        app.conf.broker_url, app.conf.task_always_eager, app.conf.task_default_queue = previous
        app.pool.force_close_all()
