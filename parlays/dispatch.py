"""Frame dispatch: one received topic frame → parse → the right service. Synchronous and
transport-free, so tests drive it directly; the WebSocket listener calls it from worker threads.

Bad input (malformed JSON, unknown topic, missing fields, impossible odds) is recorded as a
rejected InboundMessage and nothing else: no quote, no partial state, no crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from parlays.conf import ParlaySettings
from parlays.models import InboundMessage
from parlays.protocol import messages as m
from parlays.protocol.errors import ProtocolError, UnknownTopic
from parlays.protocol.pusher import Frame
from parlays.services import inbound, orders, settlement
from parlays.services.confirmations import ConfirmService
from parlays.services.quotes import QuoteEngine

logger = logging.getLogger("touchline.parlays.dispatch")


class SeenParlays:
    """parlay_ids seen recently: the same price.ask.new can arrive twice within 2–30 ms."""

    def __init__(self, ttl_s: float = 600.0, max_size: int = 200_000) -> None:
        self.ttl = ttl_s
        self.max_size = max_size
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, parlay_id: str) -> bool:
        """True the first time a parlay_id is seen (within the TTL)."""
        now = time.monotonic()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at <= self.ttl and len(self._seen) < self.max_size:
                    break
                self._seen.popitem(last=False)
            if parlay_id in self._seen:
                return False
            self._seen[parlay_id] = now
            return True


def _ids(envelope: Any) -> tuple[str, str]:
    """Best-effort ids from an invalid payload, so a rejected frame can still be found by id."""
    payload = envelope.get("payload") if isinstance(envelope, dict) else None
    if not isinstance(payload, dict):
        return "", ""
    parlay, order = payload.get("parlay_id"), payload.get("order_uuid")
    return (parlay if isinstance(parlay, str) else "")[:64], (order if isinstance(order, str) else "")[:64]


class Dispatcher:
    def __init__(
        self,
        *,
        settings: ParlaySettings,
        quotes: QuoteEngine,
        confirmations: ConfirmService,
        on_ambiguous_accept: Callable[[str], None] | None = None,
        health: inbound.ListenerHealth | None = None,
    ) -> None:
        self.settings = settings
        self.quotes = quotes
        self.confirmations = confirmations
        self.on_ambiguous_accept = on_ambiguous_accept
        self.health = health or inbound.ListenerHealth()
        self.seen = SeenParlays()

    def handle(
        self, frame: Frame, *, received_ns: int | None = None, received_at: datetime | None = None, raw: str = ""
    ) -> str:
        """Process one topic frame; returns a short outcome label. Never raises."""
        received_ns = received_ns if received_ns is not None else time.perf_counter_ns()
        received_at = received_at or timezone.now()
        raw = raw or (frame.data if isinstance(frame.data, str) else str(frame.data))
        for attempt in (1, 2):
            try:
                return self._handle(frame, received_ns, received_at, raw)
            except (OperationalError, InterfaceError):
                # A dropped database connection: reconnect once, then give up on this frame.
                logger.warning("database error on %s (attempt %s)", frame.event, attempt, exc_info=True)
                connection.close()
            except Exception as exc:
                logger.exception("failed to handle %s", frame.event)
                self._record(frame, raw, received_at, InboundMessage.Status.FAILED, f"{type(exc).__name__}: {exc}")
                return "failed"
        self._record(frame, raw, received_at, InboundMessage.Status.FAILED, "database unavailable")
        return "failed"

    def _record(
        self, frame: Frame, raw: str, received_at: datetime, status: str, error: str, envelope: Any = None
    ) -> None:
        parlay_id, order_uuid = _ids(envelope)
        try:
            inbound.record(
                topic=frame.event,
                channel=frame.channel,
                body=raw,
                status=status,
                received_at=received_at,
                error=error,
                parlay_id=parlay_id,
                order_uuid=order_uuid,
            )
        except Exception:
            logger.exception("could not record a %s frame", frame.event)

    def _handle(self, frame: Frame, received_ns: int, received_at: datetime, raw: str) -> str:
        envelope: Any = None
        try:
            envelope = frame.decoded()
            message = m.parse_topic(frame.event, envelope)
        except UnknownTopic as exc:
            status = InboundMessage.Status.IGNORED if frame.event in m.INFORMATIONAL else InboundMessage.Status.REJECTED
            self._record(frame, raw, received_at, status, str(exc), envelope)
            return status
        except ProtocolError as exc:
            logger.warning("rejected %s frame: %s", frame.event, exc)
            self._record(frame, raw, received_at, InboundMessage.Status.REJECTED, f"{exc.code}: {exc}", envelope)
            return "rejected"

        common = {"received_at": received_at, "raw": raw, "channel": frame.channel}
        if isinstance(message, m.PriceAsk):
            if not self.seen.claim(message.parlay_id):
                self._record(
                    frame, raw, received_at, InboundMessage.Status.DUPLICATE, "duplicate price.ask.new", envelope
                )
                return "duplicate"
            outcome = self.quotes.handle_ask(message, received_ns=received_ns, **common)
            return outcome.status
        if isinstance(message, m.PriceConfirm):
            self.health.update(last_confirm_at=received_at)
            answer = self.confirmations.handle(message, **common)
            if answer.accepted and answer.delivery != "delivered" and self.on_ambiguous_accept:
                self.on_ambiguous_accept(answer.order_uuid)
            return f"{answer.action}:{answer.delivery}"
        if isinstance(message, m.OrderFinalized):
            orders.order_finalized(message, settings=self.settings, **common)
            return "finalized"
        if isinstance(message, m.OrderSettled):
            settlement.order_settled(message, **common)
            return "settled"
        if isinstance(message, m.ParlaySettled):
            settlement.parlay_settled(message, **common)
            return "parlay_settled"
        if isinstance(message, m.OrderMatched):
            orders.order_matched(message, **common)
            return "matched"
        if isinstance(message, m.RefundProcessed):
            orders.refund_processed(message, settings=self.settings, **common)
            return "refunded"
        if isinstance(message, m.HealthCheck):
            self.health.health_check()
            return "health_check"
        self._record(frame, raw, received_at, InboundMessage.Status.IGNORED, "no handler", envelope)
        return "ignored"
