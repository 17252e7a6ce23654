"""The odds feed's figures on the back-office live dashboard: producer health and feed lag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.urls import reverse
from django.utils import timezone

from config.dashboard import Metric
from feeds.models import FeedMessage
from feeds.selectors import producer_health


def metrics() -> list[Metric]:
    now = timezone.now()
    messages = reverse("admin:feeds_feedmessage_changelist")
    result = []
    for producer in producer_health():
        if not producer.subscribed and producer.last_alive_at is None:
            continue  # a producer we never heard from (not in our package)
        status = "ok" if producer.usable else "bad"
        label = "up" if producer.usable else (producer.status_reason or producer.status)[:40]
        url = reverse("admin:feeds_producer_change", args=[producer.id])
        result.append(Metric(f"producer_{producer.id}", f"producer {producer.name}", label, status=status, url=url))
    latest = FeedMessage.objects.order_by("-id").values("received_at", "message_ts").first()
    if latest is None:
        result.append(Metric("feed_lag", "feed lag", "no messages yet", status="warn", url=messages))
        return result
    if latest["message_ts"]:
        produced = datetime.fromtimestamp(latest["message_ts"] / 1000, tz=UTC)
        lag = max((latest["received_at"] - produced).total_seconds(), 0.0)
        result.append(
            Metric(
                "feed_lag",
                "feed lag (produced → received)",
                round(lag, 2),
                unit="s",
                status="ok" if lag < 2 else ("warn" if lag < 10 else "bad"),
                trend=True,
                url=messages,
            )
        )
    silence = (now - latest["received_at"]).total_seconds()
    result.append(
        Metric(
            "last_message",
            "last message",
            f"{int(silence)} s ago",
            status="ok" if silence < 30 else "warn",
            url=messages,
        )
    )
    minute_ago = now - timedelta(minutes=1)
    result.append(
        Metric(
            "messages_per_min",
            "messages / minute",
            FeedMessage.objects.filter(received_at__gte=minute_ago).count(),
            trend=True,
            url=messages,
        )
    )
    return result
