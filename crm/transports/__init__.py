"""Transports to Fast Track behind one interface: `send(Message)` returns or raises.

A transport knows the wire (REST, RabbitMQ, Kafka) and classifies failures: TransientError
means the endpoint is unavailable (network, timeout, 5xx, 429, broker trouble) and the outbox
pauses and probes until it is back (crm/breaker.py); PermanentError dead-letters the event at
once (a request Fast Track refused as invalid will be refused again until someone changes
something). Transports do no database work; the outbox does no network work.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

from django.conf import settings

EVENT_TYPE = "SPORTSBOOK"


class Message(NamedTuple):  # immutable, and made without an object.__setattr__ per field: one an event
    activity_id: str
    user_id: str
    body: bytes  # the exact JSON
    event_type: str = EVENT_TYPE


class DeliveryError(Exception):
    permanent = False


class TransientError(DeliveryError):
    """Network trouble, a 5xx, a broker nack: try again later."""


class NotSent(TransientError):
    """Not attempted: an earlier message of the same call found the endpoint unavailable, or
    the caller's deadline passed. The event is as it was before the call."""


class PermanentError(DeliveryError):
    """Fast Track refused the event (4xx) or the event cannot be sent as is."""

    permanent = True


class Transport(ABC):
    name = "abstract"

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver one event; return only once the other side has accepted it."""

    def send_many(self, messages: Sequence[Message], deadline: float | None = None) -> list[DeliveryError | None]:
        """Deliver independent events (never two of one player); one outcome per message,
        None when accepted. Transports that can pipeline (RabbitMQ confirms, Kafka acks)
        override this to wait once for the lot instead of once per message.

        This one sends one at a time, so it stops early rather than wait out an outage: after
        two transient failures in a row (two different players' events: one failure alone may
        be about that event), or once `deadline` (time.monotonic()) has passed, the rest are
        `NotSent`. The outbox records what was sent before it sends more."""
        outcomes: list[DeliveryError | None] = []
        failures_in_a_row = 0
        for message in messages:
            if failures_in_a_row >= 2:
                outcomes.append(NotSent("not sent: the endpoint is unavailable"))
                continue
            if deadline is not None and outcomes and time.monotonic() >= deadline:
                outcomes.append(NotSent("not sent: deadline"))
                continue
            try:
                self.send(message)
            except TransientError as exc:
                outcomes.append(exc)
                failures_in_a_row += 1
            except DeliveryError as exc:
                outcomes.append(exc)
                failures_in_a_row = 0
            else:
                outcomes.append(None)
                failures_in_a_row = 0
        return outcomes

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. The transport may be used again afterwards (it reconnects)."""


class TransportNotConfigured(PermanentError):
    pass


def build_transport(name: str) -> Transport | None:
    """A transport from settings; None for `off`."""
    from crm import conf

    if name == "off":
        return None
    if name == "rest":
        from crm.transports.rest import RestTransport

        if not settings.FASTTRACK_API_URL:
            raise TransportNotConfigured("FASTTRACK_TRANSPORT=rest needs FASTTRACK_API_URL")
        return RestTransport(settings.FASTTRACK_API_URL, settings.FASTTRACK_API_KEY)
    if name == "rabbitmq":
        from crm.transports.rabbitmq import RabbitMQTransport

        if not settings.FASTTRACK_AMQP_URL:
            raise TransportNotConfigured("FASTTRACK_TRANSPORT=rabbitmq needs FASTTRACK_AMQP_URL")
        return RabbitMQTransport(settings.FASTTRACK_AMQP_URL, conf.AMQP_EXCHANGE, conf.AMQP_ROUTING_KEY)
    if name == "kafka":
        from crm.transports.kafka import KafkaTransport

        if not settings.FASTTRACK_KAFKA_BOOTSTRAP:
            raise TransportNotConfigured("FASTTRACK_TRANSPORT=kafka needs FASTTRACK_KAFKA_BOOTSTRAP")
        return KafkaTransport(settings.FASTTRACK_KAFKA_BOOTSTRAP, conf.KAFKA_TOPIC)
    raise TransportNotConfigured(f"unknown FASTTRACK_TRANSPORT {name!r}")


_override: Transport | None = None
_local = threading.local()


def set_override(transport: Transport | None) -> None:
    """Deliver through `transport` in this process whatever the settings say (demo, tests).

    The override is shared by every thread, so it must be thread-safe (RestTransport is).
    """
    global _override
    _override = transport


def override_active() -> bool:
    return _override is not None


def current_transport() -> Transport | None:
    """This thread's transport for the configured FASTTRACK_TRANSPORT, kept open between
    batches (one per thread: pika connections must not be shared across threads)."""
    if _override is not None:
        return _override
    name = settings.FASTTRACK_TRANSPORT
    cached = getattr(_local, "transport", None)
    if cached is not None and getattr(_local, "name", None) == name:
        return cached
    if cached is not None:
        cached.close()
    transport = build_transport(name)
    _local.transport, _local.name = transport, name
    return transport


def reset_transports() -> None:
    """Close this thread's cached transport (tests; after a settings change)."""
    cached = getattr(_local, "transport", None)
    if cached is not None:
        cached.close()
    _local.transport = _local.name = None
