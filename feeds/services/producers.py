"""Producer health and recovery.

A producer is UP only after a recovery we asked for has finished (its snapshot_complete came).
It goes DOWN when no alive arrives within the window, when an alive says subscribed=0, or when
our AMQP connection is lost (the server-named queue died with it, so messages are missing).
While a registered partition consumer is silent (feeds.services.consumers), producers stay
DOWN: its share of the feed is missing. While DOWN, once alives flow again, the health check (Celery beat, and the consumer right after
such an alive) asks for a recovery from the timestamp of the last alive received while up,
clamped to the producer's window, within the documented rate limits counted on the persisted
RecoveryRequest rows. The request row is committed before the HTTP call and the result after:
no network I/O inside a transaction, and a crash in between leaves a visible 'pending' row
that the timeout logic abandons.

One owner per producer: a recovery is asked only by recovery_request(), under the producer's
row lock and only from DOWN (it moves the producer to RECOVERING in the same transaction).
Consumers (any number of partitions), beat and staff only nudge the check; whichever gets the
lock first asks, the others find RECOVERING and leave it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from feeds import conf
from feeds.models import Producer, RecoveryRequest
from feeds.protocol import rest
from feeds.protocol.client import UofClient
from feeds.protocol.errors import UofApiError
from feeds.protocol.producers import EVENT_RATE_LIMITS, rate_limits_for
from feeds.services.consumers import silent_consumers
from feeds.services.state import producer_set_status

logger = logging.getLogger("touchline.feeds.producers")

UP, DOWN, RECOVERING = Producer.Status.UP, Producer.Status.DOWN, Producer.Status.RECOVERING


def now_ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


def alive_recent(producer: Producer, now: datetime) -> bool:
    if producer.last_alive_at is None:
        return False
    return (now - producer.last_alive_at).total_seconds() <= conf.ALIVE_WINDOW_SECONDS


def producer_is_up(producer: Producer, now: datetime | None = None) -> bool:
    """Usable for pricing: recovered (status up), subscribed, and an alive within the window.

    Computed at read time, so a dead consumer or a late beat cannot leave a producer 'up'.
    """
    now = now or timezone.now()
    return producer.status == UP and producer.subscribed and alive_recent(producer, now)


def _abandon(producer: Producer, now: datetime, reason: str) -> None:
    if producer.recovery_id:
        RecoveryRequest.objects.filter(
            id=producer.recovery_id, status__in=[RecoveryRequest.Status.PENDING, RecoveryRequest.Status.ACCEPTED]
        ).update(status=RecoveryRequest.Status.ABANDONED, detail=reason[:500], completed_at=now)
    producer.recovery = None


def _save(producer: Producer) -> None:
    producer.save(update_fields=["status", "status_reason", "status_changed_at", "recovery", "updated_at"])


@transaction.atomic
def producers_mark_down(reason: str, *, ids: list[int] | None = None) -> int:
    """Mark producers down (connection lost, consumer start). Returns how many changed."""
    now = timezone.now()
    qs = Producer.objects.select_for_update().filter(status__in=[UP, RECOVERING]).order_by("id")
    if ids is not None:
        qs = qs.filter(id__in=ids)
    changed = 0
    for producer in qs:
        _abandon(producer, now, reason)
        producer_set_status(producer, DOWN, reason, now)
        _save(producer)
        changed += 1
    return changed


def recovery_after(producer: Producer, now: datetime) -> int | None:
    """The `after` for the next recovery: last alive while up, clamped to the window; None = full."""
    if producer.recover_after_ts is None:
        return None
    window = producer.recovery_window_minutes
    if conf.MAX_RECOVERY_MINUTES:
        window = min(window, conf.MAX_RECOVERY_MINUTES)
    reach = max(window - conf.RECOVERY_MARGIN_MINUTES, 1)
    earliest = now_ms(now) - reach * 60_000
    return max(producer.recover_after_ts, earliest)


def recovery_throttle(producer_id: int, after: int | None, now: datetime) -> str:
    """'' when a producer recovery may be requested now, else why not (documented limits)."""
    recent = list(
        RecoveryRequest.objects.filter(
            producer_id=producer_id, kind=RecoveryRequest.Kind.PRODUCER, requested_at__gte=now - timedelta(hours=2)
        ).values_list("requested_at", flat=True)
    )
    if recent and (now - max(recent)).total_seconds() < conf.RECOVERY_MIN_INTERVAL_SECONDS:
        return f"last request less than {conf.RECOVERY_MIN_INTERVAL_SECONDS}s ago"
    age = None if after is None else (now_ms(now) - after) / 1000
    # Counted across tiers: the strictest reading of "N requests per period".
    for period, limit in rate_limits_for(age):
        count = sum(1 for t in recent if (now - t).total_seconds() < period)
        if count >= limit:
            return f"rate limit: {count} requests in the last {period // 60} min (max {limit})"
    return ""


@dataclass
class CheckReport:
    went_down: list[int] = field(default_factory=list)
    requested: list[int] = field(default_factory=list)  # RecoveryRequest ids
    waiting: dict[int, str] = field(default_factory=dict)  # producer -> why no request yet


def producers_check(client: UofClient | None, *, now: datetime | None = None) -> CheckReport:
    """The periodic health check: alive timeouts, stuck recoveries, and new recovery requests."""
    now = now or timezone.now()
    report = CheckReport()
    candidates: list[int] = []
    silent = silent_consumers(now)
    missing = (
        f"consumer {silent[0].name} silent since {silent[0].seen_at:%H:%M:%S}: its share of the feed is missing"
        + (f" (and {len(silent) - 1} more)" if len(silent) > 1 else "")
        if silent
        else ""
    )
    with transaction.atomic():
        for producer in Producer.objects.select_for_update().order_by("id"):
            recent = alive_recent(producer, now)
            if producer.status == UP and not recent:
                _abandon(producer, now, "alive timeout")
                producer_set_status(producer, DOWN, f"no alive for more than {conf.ALIVE_WINDOW_SECONDS}s", now)
                _save(producer)
                report.went_down.append(producer.pk)
            elif producer.status in (UP, RECOVERING) and missing:
                # Alives from the other consumers say nothing of the dead one's messages.
                _abandon(producer, now, missing)
                producer_set_status(producer, DOWN, missing, now)
                _save(producer)
                report.went_down.append(producer.pk)
            elif producer.status == RECOVERING:
                reason = _recovery_stuck(producer, now, recent)
                if reason:
                    _abandon(producer, now, reason)
                    producer_set_status(producer, DOWN, reason, now)
                    _save(producer)
                    report.went_down.append(producer.pk)
            if producer.status == DOWN and recent and producer.active:
                if missing:
                    # A recovery now would not reach the dead consumer's share: wait for it.
                    report.waiting[producer.pk] = f"waiting: {missing}"
                else:
                    candidates.append(producer.pk)
    for producer_id in candidates:
        request, why = recovery_request(client, producer_id, now=now)
        if request is not None:
            report.requested.append(request.pk)
        else:
            report.waiting[producer_id] = why
    return report


def _recovery_stuck(producer: Producer, now: datetime, alive_recent_: bool) -> str:
    if not alive_recent_:
        return f"no alive for more than {conf.ALIVE_WINDOW_SECONDS}s during recovery"
    request = RecoveryRequest.objects.filter(pk=producer.recovery_id).first() if producer.recovery_id else None
    if request is None:
        return "recovery lost"
    if (now - request.requested_at).total_seconds() > conf.RECOVERY_TIMEOUT_SECONDS:
        return f"recovery {request.pk} unfinished after {conf.RECOVERY_TIMEOUT_SECONDS}s"
    last = request.last_activity_at or request.answered_at or request.requested_at
    if (now - last).total_seconds() > conf.RECOVERY_SILENCE_SECONDS:
        return f"recovery {request.pk} silent for {conf.RECOVERY_SILENCE_SECONDS}s"
    if request.status in (RecoveryRequest.Status.FAILED, RecoveryRequest.Status.ABANDONED):
        return f"recovery {request.pk} {request.status}"
    return ""


def recovery_request(
    client: UofClient | None, producer_id: int, *, now: datetime | None = None
) -> tuple[RecoveryRequest | None, str]:
    """Ask for a producer recovery if it is due and allowed. Returns (request, why-not)."""
    now = now or timezone.now()
    if client is None:
        return None, "no REST API configured (UOF_API_URL): cannot request recovery"
    with transaction.atomic():
        producer = Producer.objects.select_for_update().get(pk=producer_id)
        if producer.status != DOWN:
            return None, f"producer is {producer.status}"
        if not alive_recent(producer, now):
            return None, "waiting for alives to resume"
        if not producer.api_url:
            return None, "producer has no api_url (run producers sync)"
        after = recovery_after(producer, now)
        why = recovery_throttle(producer.pk, after, now)
        if why:
            return None, why
        request = RecoveryRequest.objects.create(
            producer=producer,
            kind=RecoveryRequest.Kind.PRODUCER,
            after_ts=after,
            node_id=conf.node_id(),
            requested_at=now,
        )
        producer.recovery = request
        # Every line this recovery re-sends is newer than the alive that let us ask for it: a
        # line older than that was not re-sent, so it is no longer current (line_freshness).
        producer.up_since_ts = producer.last_alive_ts
        producer_set_status(producer, RECOVERING, f"recovery {request.pk} requested", now)
        producer.save(
            update_fields=["status", "status_reason", "status_changed_at", "recovery", "up_since_ts", "updated_at"]
        )
        api_url = producer.api_url
    # Network call between transactions.
    try:
        response: rest.ApiResponse | None = client.initiate_recovery(
            api_url, request_id=request.pk, node_id=request.node_id, after=after
        )
        error = None
    except UofApiError as exc:
        response, error = None, exc
    with transaction.atomic():
        request = RecoveryRequest.objects.select_for_update().get(pk=request.pk)
        request.answered_at = timezone.now()
        if error is None and response is not None:
            request.response_code = response.response_code[:32]
            request.detail = (response.action + " " + response.message).strip()[:500]
            if request.status == RecoveryRequest.Status.PENDING:
                request.status = RecoveryRequest.Status.ACCEPTED
            request.save(update_fields=["answered_at", "response_code", "detail", "status"])
            logger.info("recovery %s for producer %s accepted (after=%s)", request.pk, producer_id, after)
            return request, ""
        request.status = RecoveryRequest.Status.FAILED
        request.response_code = (getattr(error, "response_code", None) or str(getattr(error, "status", "") or "error"))[
            :32
        ]
        request.detail = str(error)[:500]
        request.save(update_fields=["answered_at", "response_code", "detail", "status"])
        producer = Producer.objects.select_for_update().get(pk=producer_id)
        if producer.recovery_id == request.pk:
            producer.recovery = None
            producer_set_status(producer, DOWN, f"recovery {request.pk} failed: {error}", timezone.now())
            _save(producer)
        logger.warning("recovery %s for producer %s failed: %s", request.pk, producer_id, error)
        return request, ""


def event_recovery_request(
    client: UofClient, producer_id: int, event_urn: str, *, stateful: bool = False, now: datetime | None = None
) -> RecoveryRequest:
    """Re-send one event's odds (or its stateful messages). Throttled per the event limits."""
    now = now or timezone.now()
    kind = RecoveryRequest.Kind.EVENT_STATEFUL if stateful else RecoveryRequest.Kind.EVENT_ODDS
    with transaction.atomic():
        producer = Producer.objects.select_for_update().get(pk=producer_id)
        for period, limit in EVENT_RATE_LIMITS:
            count = RecoveryRequest.objects.filter(
                producer=producer,
                kind__in=[RecoveryRequest.Kind.EVENT_ODDS, RecoveryRequest.Kind.EVENT_STATEFUL],
                requested_at__gte=now - timedelta(seconds=period),
            ).count()
            if count >= limit:
                raise UofApiError(
                    f"event recovery rate limit: {count} in {period // 60} min", response_code="THROTTLED"
                )
        request = RecoveryRequest.objects.create(
            producer=producer, kind=kind, event_urn=event_urn, node_id=conf.node_id(), requested_at=now
        )
        api_url = producer.api_url
    call = client.recover_event_stateful if stateful else client.recover_event_odds
    try:
        response = call(api_url, event_urn, request_id=request.pk, node_id=request.node_id)
        request.status = RecoveryRequest.Status.ACCEPTED
        request.response_code = response.response_code[:32]
    except UofApiError as exc:
        request.status = RecoveryRequest.Status.FAILED
        request.detail = str(exc)[:500]
    request.answered_at = timezone.now()
    RecoveryRequest.objects.filter(pk=request.pk, status=RecoveryRequest.Status.PENDING).update(
        status=request.status,
        response_code=request.response_code,
        detail=request.detail,
        answered_at=request.answered_at,
    )
    return request


def producers_sync(client: UofClient) -> int:
    """Refresh producer metadata from producers.xml (never their health state)."""
    infos = client.producers()  # network first, then one short transaction
    with transaction.atomic():
        for info in infos:
            Producer.objects.update_or_create(
                id=info.id,
                defaults={
                    "name": info.name[:64],
                    "description": info.description[:128],
                    "api_url": info.api_url[:300],
                    "active": info.active,
                    "scope": "|".join(info.scope)[:64],
                    "recovery_window_minutes": info.recovery_window_minutes,
                },
            )
    return len(infos)
