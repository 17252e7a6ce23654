"""Celery tasks: thin wrappers around services. Each is a no-op until PROPHETX_API_URL is set.

Network calls happen outside database transactions (the services see to it). A failed call is
retried by the next beat run, not by a tight retry loop: ProphetX rate-limits and limits sessions.
"""

from __future__ import annotations

import logging

from celery import shared_task

from parlays import conf

logger = logging.getLogger("touchline.parlays.tasks")

_client = None


def rest_client():
    """One client per worker process: its session is reused (never a login per task)."""
    global _client
    api_url, access_key, secret_key, _ = conf.connection()
    if not api_url:
        return None
    if _client is None:
        from parlays.protocol.rest import ProphetXClient

        settings = conf.get()
        _client = ProphetXClient(
            api_url,
            access_key,
            secret_key,
            timeout=settings.http_timeout_s,
            refresh_every_s=settings.token_refresh_s,
            login_cooldown_s=settings.login_cooldown_s,
            vocabulary=settings.vocabulary,
        )
    return _client


@shared_task(name="parlays.tasks.seed_reference_data")
def seed_reference_data() -> dict | None:
    client = rest_client()
    if client is None:
        return None
    from parlays.services.lines import seed_reference_data as seed
    from parlays.services.lines import sync_supported_lines

    counts = seed(client, conf.get())
    counts.update(sync_supported_lines(client))
    logger.info("ProphetX reference data: %s", counts)
    return counts


@shared_task(name="parlays.tasks.sync_supported_lines")
def sync_supported_lines(full: bool = False) -> dict | None:
    client = rest_client()
    if client is None:
        return None
    from parlays.services.lines import sync_supported_lines as sync

    return sync(client, full=full)


@shared_task(name="parlays.tasks.reconcile_orders")
def reconcile_orders() -> dict | None:
    client = rest_client()
    if client is None:
        return None
    from parlays.services.reconciliation import reconcile_orders as reconcile

    return reconcile(client, settings=conf.get())
