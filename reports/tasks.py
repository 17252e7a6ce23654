"""Celery transport: the beat job that keeps rollups current, and reconciliation runs."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from reports import services
from reports.reconciliation import services as reconciliation


@shared_task(name="reports.refresh_rollups")
def refresh_rollups() -> list[str]:
    """Every 10 minutes: today so far, and any earlier day not closed yet."""
    return [f"{s.day}:{'closed' if s.closed else 'open'}:{s.rows}" for s in services.rollups_refresh()]


@shared_task(name="reports.run_reconciliation")
def run_reconciliation(run_id: int) -> str:
    return reconciliation.run_execute(run_id).status


def reconciliation_start(run_id: int) -> None:
    """On a worker when there is a broker; inline without one (the demo). Eager runs call
    `apply`, not `delay`: `delay` would open the app's producer pool on the eager
    configuration, and a later change of broker in this process would go unseen (as crm.tasks)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        run_reconciliation.apply(args=[run_id])
    else:
        run_reconciliation.delay(run_id)
