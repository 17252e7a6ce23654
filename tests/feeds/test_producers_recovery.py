"""Producer health and recovery, following the UOF procedure: down → wait for alives → recovery
request with the right `after` → snapshot_complete with our request_id → up."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from feeds import conf
from feeds.models import Producer, RecoveryRequest
from feeds.services import producers
from tests.feeds.helpers import alive, apply, odds_change, snapshot_complete

pytestmark = pytest.mark.django_db

LIVE = 1


def producer(pk: int = LIVE) -> Producer:
    return Producer.objects.get(pk=pk)


def bring_up(uof_client, fake_api) -> RecoveryRequest:
    """Sync producers, receive an alive, recover, complete: the start of every scenario."""
    producers.producers_sync(uof_client)
    (result,) = apply(alive(LIVE))
    assert result.outcome == "applied"
    report = producers.producers_check(uof_client)
    (request_id,) = report.requested
    apply(snapshot_complete(request_id))
    apply(alive(LIVE))
    return RecoveryRequest.objects.get(pk=request_id)


def test_first_start_requests_a_full_recovery_then_comes_up(uof_client, fake_api):
    producers.producers_sync(uof_client)
    assert producer().status == "down" and producer().api_url == f"{fake_api.base_url}/liveodds/"
    # No alive yet: wait for alives before asking (early requests fail and still count).
    assert producers.producers_check(uof_client).waiting == {}
    assert fake_api.recoveries == []

    apply(alive(LIVE))
    report = producers.producers_check(uof_client)
    (request_id,) = report.requested
    assert fake_api.recoveries == [
        {"product": 1, "request_id": request_id, "node_id": conf.node_id(), "after": None, "event": None}
    ]
    request = RecoveryRequest.objects.get(pk=request_id)
    assert (request.status, request.after_ts, request.response_code) == ("accepted", None, "ACCEPTED")
    assert producer().status == "recovering" and producer().recovery_id == request_id
    assert not producers.producer_is_up(producer())

    (other,) = apply(snapshot_complete(request_id + 1000))
    assert other.outcome == "ignored" and producer().status == "recovering"

    (done,) = apply(snapshot_complete(request_id))
    assert done.outcome == "applied"
    assert producer().status == "up" and producer().recovery_id is None
    assert RecoveryRequest.objects.get(pk=request_id).status == "completed"
    assert producers.producer_is_up(producer())


def test_token_is_sent_as_x_access_token(uof_client, fake_api):
    from feeds.protocol.client import UofClient
    from feeds.protocol.errors import UofApiError

    with UofClient(fake_api.base_url, "wrong") as bad, pytest.raises(UofApiError) as exc:
        bad.producers()
    assert exc.value.status == 403 and exc.value.response_code == "FORBIDDEN"
    assert uof_client.whoami().bookmaker_id == 6908


def test_alive_timeout_then_recovery_from_the_last_alive_while_up(uof_client, fake_api):
    bring_up(uof_client, fake_api)
    last_up_alive = producer().recover_after_ts
    assert last_up_alive is not None

    later = timezone.now() + timedelta(seconds=conf.ALIVE_WINDOW_SECONDS + 5)
    report = producers.producers_check(uof_client, now=later)
    assert report.went_down == [LIVE]
    assert producer().status == "down" and "no alive" in producer().status_reason
    assert not producers.producer_is_up(producer(), later)

    # Alives resume 40 s after the last request: the recovery starts from the stored timestamp.
    resumed = later + timedelta(seconds=40)
    Producer.objects.filter(pk=LIVE).update(last_alive_at=resumed)
    report = producers.producers_check(uof_client, now=resumed)
    (request_id,) = report.requested
    assert fake_api.recoveries[-1]["after"] == str(last_up_alive)
    apply(snapshot_complete(request_id))
    assert producer().status == "up"


def test_after_is_clamped_to_the_producers_window(uof_client, fake_api):
    producers.producers_sync(uof_client)
    now = timezone.now()
    two_days_ago = int((now - timedelta(days=2)).timestamp() * 1000)
    Producer.objects.filter(pk=LIVE).update(recover_after_ts=two_days_ago, last_alive_at=now)
    request, why = producers.recovery_request(uof_client, LIVE, now=now)
    assert why == ""
    expected = int(now.timestamp() * 1000) - (600 - 10) * 60_000  # LO keeps 600 min; SDK margin 10 min
    assert request.after_ts == expected
    assert fake_api.recoveries[-1]["after"] == str(expected)


def test_max_recovery_setting_caps_the_window(uof_client, fake_api, monkeypatch):
    monkeypatch.setattr(conf, "MAX_RECOVERY_MINUTES", 60)
    producers.producers_sync(uof_client)
    now = timezone.now()
    Producer.objects.filter(pk=3).update(recover_after_ts=0, last_alive_at=now)
    request, _ = producers.recovery_request(uof_client, 3, now=now)
    assert request.after_ts == int(now.timestamp() * 1000) - 50 * 60_000


def test_requests_are_throttled_per_documented_limits(uof_client, fake_api):
    producers.producers_sync(uof_client)
    now = timezone.now()
    Producer.objects.filter(pk=LIVE).update(last_alive_at=now, recover_after_ts=int(now.timestamp() * 1000) - 3600_000)
    first, _ = producers.recovery_request(uof_client, LIVE, now=now)
    assert first is not None
    Producer.objects.filter(pk=LIVE).update(status="down", recovery=None)
    again, why = producers.recovery_request(uof_client, LIVE, now=now + timedelta(seconds=10))
    assert again is None and why == "last request less than 30s ago"
    # 'after' an hour back is the 30 min – 1 day tier: 4 per 10 minutes.
    for minutes in (2, 4, 6):
        RecoveryRequest.objects.create(producer_id=LIVE, requested_at=now - timedelta(minutes=minutes), status="failed")
    later = now + timedelta(seconds=60)
    Producer.objects.filter(pk=LIVE).update(last_alive_at=later)
    blocked, why = producers.recovery_request(uof_client, LIVE, now=later)
    assert blocked is None and why == "rate limit: 4 requests in the last 10 min (max 4)"
    assert len(fake_api.recoveries) == 1


def test_rate_limit_tiers():
    from feeds.protocol.producers import rate_limits_for

    assert rate_limits_for(60) == ((600, 20), (3600, 60))
    assert rate_limits_for(3 * 3600) == ((600, 4), (3600, 10))
    assert rate_limits_for(2 * 86400) == ((1800, 2), (7200, 4))
    assert rate_limits_for(None) == ((1800, 2), (7200, 4))


def test_failed_request_leaves_the_producer_down_and_counts(uof_client, fake_api):
    producers.producers_sync(uof_client)
    apply(alive(LIVE))
    fake_api.fail_recovery = True
    report = producers.producers_check(uof_client)
    (request_id,) = report.requested
    request = RecoveryRequest.objects.get(pk=request_id)
    assert request.status == "failed" and request.response_code == "INTERNAL_SERVER_ERROR"
    assert producer().status == "down" and "failed" in producer().status_reason
    assert producers.producers_check(uof_client).waiting[LIVE] == "last request less than 30s ago"


def test_subscribed_zero_takes_a_producer_down(uof_client, fake_api):
    bring_up(uof_client, fake_api)
    (result,) = apply(alive(LIVE, subscribed=0))
    assert result.outcome == "applied"
    assert producer().status == "down" and producer().status_reason == "alive with subscribed=0"


def test_subscribed_zero_during_recovery_is_expected(uof_client, fake_api):
    producers.producers_sync(uof_client)
    apply(alive(LIVE, subscribed=0))
    (request_id,) = producers.producers_check(uof_client).requested
    apply(alive(LIVE, subscribed=0))
    assert producer().status == "recovering"
    apply(snapshot_complete(request_id))
    assert producer().status == "up" and not producers.producer_is_up(producer())  # not subscribed yet
    apply(alive(LIVE, subscribed=1))
    assert producers.producer_is_up(producer())


def test_lost_connection_marks_every_producer_down(uof_client, fake_api):
    request = bring_up(uof_client, fake_api)
    assert producers.producers_mark_down("AMQP connection lost") == 1
    assert producer().status == "down" and producer().status_reason == "AMQP connection lost"
    assert RecoveryRequest.objects.get(pk=request.pk).status == "completed"  # finished ones stay finished


def test_stuck_recovery_is_abandoned_and_retried(uof_client, fake_api):
    producers.producers_sync(uof_client)
    apply(alive(LIVE))
    (request_id,) = producers.producers_check(uof_client).requested
    later = timezone.now() + timedelta(seconds=conf.RECOVERY_SILENCE_SECONDS + 1)
    Producer.objects.filter(pk=LIVE).update(last_alive_at=later)
    report = producers.producers_check(uof_client, now=later)
    assert report.went_down == [LIVE]
    assert RecoveryRequest.objects.get(pk=request_id).status == "abandoned"
    assert len(report.requested) == 1 and report.requested[0] != request_id  # asked again at once
    # the abandoned request's snapshot_complete no longer brings the producer up
    (late,) = apply(snapshot_complete(request_id))
    assert late.outcome == "ignored" and producer().status == "recovering"


def test_messages_of_a_recovery_keep_it_alive(uof_client, fake_api):
    producers.producers_sync(uof_client)
    apply(alive(LIVE))
    (request_id,) = producers.producers_check(uof_client).requested
    apply(odds_change(ts=1000, request_id=request_id, markets=[(1, "", 1, {"1": "2.0"})]))
    assert RecoveryRequest.objects.get(pk=request_id).last_activity_at is not None


def test_no_rest_api_means_no_recovery_and_the_reason_says_so():
    apply(alive(LIVE))
    report = producers.producers_check(None)
    assert report.waiting == {LIVE: "no REST API configured (UOF_API_URL): cannot request recovery"}
    assert producer().status == "down"


def test_producers_we_are_not_entitled_to_are_not_recovered(uof_client, fake_api):
    producers.producers_sync(uof_client)
    assert not Producer.objects.get(pk=4).active
    apply(alive(4, subscribed=0))
    assert producers.producers_check(uof_client).requested == []


def test_unknown_producer_is_created_from_the_documented_defaults():
    with override_settings(UOF_API_URL="https://stgapi.betradar.com/v1"):
        apply(alive(14))
    p = producer(14)
    assert (p.name, p.api_url, p.recovery_window_minutes, p.status) == (
        "C-Odds",
        "https://stgapi.betradar.com/v1/codds/",
        4320,
        "down",
    )
    apply(alive(99))
    assert producer(99).name == "producer 99" and producer(99).api_url == ""


def test_older_alive_is_stale():
    now = int(time.time() * 1000)
    apply(alive(LIVE, ts=now))
    (old,) = apply(alive(LIVE, ts=now - 10_000))
    assert old.outcome == "stale" and producer().last_alive_ts == now


def test_event_recovery_request(uof_client, fake_api):
    producers.producers_sync(uof_client)
    request = producers.event_recovery_request(uof_client, LIVE, "sr:match:1")
    assert request.status == "accepted" and request.kind == "event_odds"
    assert fake_api.recoveries[-1]["event"] == "sr:match:1"
    assert fake_api.requests[-1][1].startswith("/v1/liveodds/odds/events/sr:match:1/initiate_request")


def test_celery_tasks_use_the_configured_client(uof_client, fake_api):
    from feeds import tasks
    from feeds.services import client_override

    assert tasks.fixtures_fetch() == 0  # no UOF_API_URL in tests: nothing to call
    client_override(uof_client)
    try:
        assert tasks.producers_sync() == 15
        apply(alive(LIVE))
        report = tasks.producers_check()
        assert len(report["requested"]) == 1 and fake_api.recoveries[-1]["product"] == LIVE
        # 190 market descriptions, and the four code lists (245 codes) with them.
        assert tasks.descriptions_refresh() == 190 + 245
        from feeds.services.descriptions import code_names

        assert code_names("match_status")[100] == "Ended" and code_names("void_reasons")
    finally:
        client_override(None)
