"""Periodic wallet jobs (Celery beat in production, the demo's in-process scheduler otherwise)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.management import call_command
from django.core.management.base import CommandError

logger = logging.getLogger("touchline.wallet.tasks")


@shared_task(name="wallet.check_ledger")
def check_ledger_task() -> bool:
    """Prove the invariants on the live database and record the run; a failure pages on-call."""
    try:
        call_command("check_ledger", stdout=_Null(), stderr=_Null())
        return True
    except CommandError:
        logger.error("check_ledger found violations: see the dashboard and `manage.py check_ledger`")
        return False


@shared_task(name="wallet.protection_apply_due")
def protection_apply_due_task() -> int:
    """Apply limit increases, removals and exclusion lifts whose cooling period is over."""
    from wallet.services.protection import apply_due

    return apply_due()


@shared_task(name="backoffice.dashboard_broadcast")
def dashboard_broadcast_task() -> None:
    from config import dashboard

    dashboard.broadcast()


class _Null:
    def write(self, *_args) -> None:
        pass

    def flush(self) -> None:
        pass
