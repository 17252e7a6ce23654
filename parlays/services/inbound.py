"""Recording received frames (InboundMessage) and the listener's health (ListenerState)."""

from __future__ import annotations

import threading
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from parlays.models import InboundMessage, ListenerState

MAX_BODY = 200_000


def message_row(
    *,
    topic: str,
    channel: str,
    body: str,
    status: str,
    received_at: datetime,
    error: str = "",
    parlay_id: str = "",
    order_uuid: str = "",
) -> InboundMessage:
    return InboundMessage(
        topic=topic[:64],
        channel=channel[:200],
        body=body[:MAX_BODY],
        status=status,
        received_at=received_at,
        error=error[:2000],
        parlay_id=parlay_id[:64],
        order_uuid=order_uuid[:64],
    )


def record(**kwargs) -> InboundMessage:
    """Store one frame on its own (rejected, duplicate or informational frames)."""
    row = message_row(**kwargs)
    with transaction.atomic():
        row.save()
    return row


class ListenerHealth:
    """Counts in memory, flushed to ListenerState every few seconds (health_check is frequent)."""

    def __init__(self, name: str = "default") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._changes: dict = {}
        self._health_checks = 0
        self._connections = 0

    def connected(self, socket_id: str, channels: list[str]) -> None:
        with self._lock:
            self._connections += 1
            self._changes.update(
                connected=True, socket_id=socket_id, channels=channels, connected_at=timezone.now(), last_error=""
            )

    def update(self, **fields) -> None:
        with self._lock:
            self._changes.update(fields)

    def health_check(self) -> None:
        with self._lock:
            self._health_checks += 1
            self._changes["last_health_check_at"] = timezone.now()

    def flush(self) -> None:
        with self._lock:
            changes, self._changes = self._changes, {}
            checks, self._health_checks = self._health_checks, 0
            connections, self._connections = self._connections, 0
        if not changes and not checks and not connections:
            return
        from django.db.models import F

        with transaction.atomic():
            ListenerState.objects.get_or_create(name=self.name)
            update = dict(changes)
            if checks:
                update["health_checks"] = F("health_checks") + checks
            if connections:
                update["connections"] = F("connections") + connections
            update["updated_at"] = timezone.now()
            ListenerState.objects.filter(name=self.name).update(**update)
