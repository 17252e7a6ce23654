"""Prometheus gauges for the outbox, read from the database at scrape time."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily


class OutboxCollector:
    def describe(self):
        # Lets REGISTRY.register() learn the names without collecting (no query at start-up).
        yield GaugeMetricFamily("touchline_crm_outbox_lag_seconds", "")
        yield GaugeMetricFamily("touchline_crm_outbox_open", "", labels=["status"])
        yield GaugeMetricFamily("touchline_crm_outbox_blocked_players", "")
        yield GaugeMetricFamily("touchline_crm_fasttrack_unavailable_seconds", "")

    def collect(self):
        from crm.selectors import outbox_stats

        try:
            stats = outbox_stats()
        except Exception:  # the database being down is /readyz's news, not a scrape failure
            return
        yield GaugeMetricFamily(
            "touchline_crm_outbox_lag_seconds",
            "Age of the oldest Fast Track event not yet delivered (0 when none)",
            value=stats.lag_seconds,
        )
        rows = GaugeMetricFamily("touchline_crm_outbox_open", "Fast Track events not yet delivered", labels=["status"])
        for status in ("pending", "sending", "dead"):
            rows.add_metric([status], getattr(stats, status))
        yield rows
        yield GaugeMetricFamily(
            "touchline_crm_outbox_blocked_players",
            "Players whose Fast Track events wait behind a dead letter",
            value=stats.dead_players,
        )
        yield GaugeMetricFamily(
            "touchline_crm_fasttrack_unavailable_seconds",
            "How long Fast Track has been unavailable, delivery paused (0 while it answers)",
            value=stats.unavailable_seconds,
        )


def register() -> None:
    """Add the outbox gauges to /metrics (config.ops; idempotent: ready() can run twice)."""
    from config.ops import register_database_collector

    register_database_collector(OutboxCollector())
