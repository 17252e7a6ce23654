"""Celery tasks: thin wrappers that build the REST client and call one service each."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from feeds import conf
from feeds.models import FeedMessage
from feeds.protocol.errors import UofApiError
from feeds.services import client_get, descriptions, fixtures, producers

logger = logging.getLogger("touchline.feeds.tasks")


@shared_task(name="feeds.producers_check", ignore_result=True)
def producers_check() -> dict:
    report = producers.producers_check(client_get())
    return {"down": report.went_down, "requested": report.requested, "waiting": report.waiting}


@shared_task(name="feeds.fixtures_fetch", ignore_result=True)
def fixtures_fetch() -> int:
    client = client_get()
    return fixtures.fixtures_fetch(client) if client else 0


@shared_task(name="feeds.descriptions_refresh", ignore_result=True)
def descriptions_refresh() -> int:
    client = client_get()
    if client is None:
        return 0
    try:
        stored = descriptions.descriptions_refresh(client)
        if stored or not descriptions.code_names("match_status"):
            stored += descriptions.codes_refresh(client)  # with the descriptions: daily
        return stored + descriptions.descriptions_fetch_missing(client)
    except UofApiError as exc:
        logger.warning("descriptions refresh failed: %s", exc)
        return 0


@shared_task(name="feeds.producers_sync", ignore_result=True)
def producers_sync() -> int:
    client = client_get()
    if client is None:
        return 0
    try:
        return producers.producers_sync(client)
    except UofApiError as exc:
        logger.warning("producers sync failed: %s", exc)
        return 0


@shared_task(name="feeds.journal_prune", ignore_result=True)
def journal_prune() -> int:
    """Delete journal rows past the retention (history rows keep their data, journal link nulls)."""
    cutoff = timezone.now() - timedelta(hours=conf.JOURNAL_RETENTION_HOURS)
    deleted, _ = FeedMessage.objects.filter(received_at__lt=cutoff).delete()
    return deleted


@shared_task(name="feeds.reconcile_bet_results", ignore_result=True)
def reconcile_bet_results() -> int:
    """Provider settlements that disagree with Betradar's go to the review queue."""
    from feeds.reconcile import check_recent_settlements

    return check_recent_settlements()
