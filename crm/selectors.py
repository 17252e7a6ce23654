"""Reads about the outbox: the lag figure for the dashboard, the admin and /metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from crm.models import OutboxEvent

OPEN = [s.value for s in OutboxEvent.OPEN_STATES]


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    sending: int
    dead: int
    lag_seconds: float  # age of the oldest event not yet delivered (0 when none)
    oldest_activity_id: str
    dead_players: int  # players held back by a dead letter
    unavailable_seconds: float = 0.0  # how long Fast Track has been unavailable (delivery paused; 0 when up)

    def as_dict(self) -> dict:
        return asdict(self)


def outbox_stats(*, now: datetime | None = None) -> OutboxStats:
    """Cheap: both queries use the partial index on open rows."""
    now = now or timezone.now()
    counts = dict(OutboxEvent.objects.filter(status__in=OPEN).values_list("status").annotate(n=Count("id")).order_by())
    oldest = (
        OutboxEvent.objects.filter(status__in=OPEN).order_by("id").values_list("occurred_at", "activity_id").first()
    )
    dead_players = (
        OutboxEvent.objects.filter(status=OutboxEvent.Status.DEAD).values("player_id").distinct().count()
        if counts.get(OutboxEvent.Status.DEAD)
        else 0
    )
    lag = max((now - oldest[0]).total_seconds(), 0.0) if oldest else 0.0
    return OutboxStats(
        pending=counts.get(OutboxEvent.Status.PENDING, 0),
        sending=counts.get(OutboxEvent.Status.SENDING, 0),
        dead=counts.get(OutboxEvent.Status.DEAD, 0),
        lag_seconds=round(lag, 3),
        oldest_activity_id=oldest[1] if oldest else "",
        dead_players=dead_players,
        unavailable_seconds=_unavailable_seconds(now),
    )


def _unavailable_seconds(now: datetime) -> float:
    from crm import breaker

    state = breaker.state()
    return round(max(now.timestamp() - state["since"], 0.0), 3) if state else 0.0
