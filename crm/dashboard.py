"""The Fast Track export's figures on the back-office live dashboard."""

from __future__ import annotations

from django.urls import reverse

from config.dashboard import Metric
from crm.selectors import outbox_stats


def metrics() -> list[Metric]:
    stats = outbox_stats()
    outbox = reverse("admin:crm_outboxevent_changelist")
    lag_status = "ok" if stats.lag_seconds < 30 else ("warn" if stats.lag_seconds < 300 else "bad")
    return [
        Metric(
            "outbox_lag",
            "outbox lag (oldest pending)",
            round(stats.lag_seconds, 1),
            unit="s",
            status=lag_status,
            trend=True,
            url=f"{outbox}?status__exact=pending",
        ),
        Metric(
            "outbox_pending",
            "events pending",
            stats.pending + stats.sending,
            trend=True,
            url=f"{outbox}?status__exact=pending",
        ),
        Metric(
            "outbox_dead",
            "dead-lettered events",
            stats.dead,
            status="bad" if stats.dead else "ok",
            url=f"{outbox}?status__exact=dead",
        ),
        Metric(
            "players_held",
            "players held back",
            stats.dead_players,
            status="bad" if stats.dead_players else "ok",
            url=f"{outbox}?status__exact=dead",
        ),
    ]
