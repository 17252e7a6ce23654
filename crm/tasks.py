"""Celery tasks: thin wrappers around crm.services.

`kick()` is what the outbox registers with transaction.on_commit. With a broker it queues
one `deliver_outbox` task, coalescing bursts through a cache flag: the flag is set when a task
is queued and cleared when that task starts, so a kick that finds it set knows a task that
has not started yet will see its rows. Without a broker (demo, tests) tasks are eager and
delivery runs right there, after the commit.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from crm import conf, services
from crm.transports import current_transport, override_active

logger = logging.getLogger("touchline.crm")

KICK_KEY = "crm:outbox:kick"


def kick() -> None:
    if settings.FASTTRACK_TRANSPORT == "off" and not override_active():
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        deliver_outbox.apply()
        return
    if cache.add(KICK_KEY, 1, timeout=max(conf.SWEEP_SECONDS * 6, 60)):
        deliver_outbox.delay()


@shared_task(ignore_result=True)
def deliver_outbox() -> int:
    """Deliver everything due; returns the number of events delivered."""
    cache.delete(KICK_KEY)
    transport = current_transport()
    if transport is None:
        return 0
    result = services.deliver_pending(transport=transport)
    return len(result.delivered)


@shared_task(ignore_result=True)
def sweep_outbox() -> int:
    """Beat: recover rows of workers that died, then deliver what is due (retries after backoff)."""
    services.recover_expired_leases()
    transport = current_transport()
    if transport is None:
        return 0
    result = services.deliver_pending(transport=transport)
    return len(result.delivered)
