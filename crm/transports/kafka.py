"""Kafka: one record per event, header type=SPORTSBOOK, key = user_id.

The key keeps one player's events in one partition, so Kafka preserves their order; with
acks=all and one request in flight a retry cannot reorder them. No Kafka broker can be
installed on the development machine: this transport is tested with a fake producer object
(serialization, headers, key, error classification), never against a real cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from crm import conf
from crm.transports import DeliveryError, Message, PermanentError, TransientError, Transport

# Broker answers that will not change on a retry of the same record.
_PERMANENT = {
    "MessageSizeTooLargeError",
    "RecordListTooLargeError",
    "InvalidTopicError",
    "InvalidRecordError",
    "CorruptRecordError",
    "UnsupportedForMessageFormatError",
}


class KafkaTransport(Transport):
    name = "kafka"

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        *,
        timeout: float | None = None,
        producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout = timeout or conf.KAFKA_TIMEOUT
        self._factory = producer_factory or self._default_factory
        self._producer: Any = None

    def _default_factory(self) -> Any:
        from kafka import KafkaProducer

        return KafkaProducer(
            bootstrap_servers=[s.strip() for s in self.bootstrap.split(",") if s.strip()],
            acks="all",
            retries=3,
            max_in_flight_requests_per_connection=1,
            request_timeout_ms=int(self.timeout * 1000),
            max_block_ms=int(self.timeout * 1000),
            bootstrap_timeout_ms=int(self.timeout * 1000),
        )

    @staticmethod
    def record(message: Message) -> dict[str, Any]:
        """The arguments of KafkaProducer.send for one event."""
        return {
            "value": message.body,
            "key": message.user_id.encode(),
            "headers": [("type", message.event_type.encode())],
        }

    def send(self, message: Message) -> None:
        (outcome,) = self.send_many([message])
        if outcome is not None:
            raise outcome

    def send_many(self, messages: Sequence[Message], deadline: float | None = None) -> list[DeliveryError | None]:
        """Hand every record to the producer, then wait for each ack (acks=all)."""
        from kafka import errors

        outcomes: list[DeliveryError | None] = []
        try:
            if self._producer is None:
                self._producer = self._factory()
            futures = [self._producer.send(self.topic, **self.record(m)) for m in messages]
        except (errors.KafkaError, OSError) as exc:
            self.close()
            return [self._classify(exc)] * len(messages)
        broken = False
        for future in futures:
            try:
                future.get(timeout=self.timeout)
            except (errors.KafkaError, OSError) as exc:
                outcome = self._classify(exc)
                broken = broken or not outcome.permanent
                outcomes.append(outcome)
            else:
                outcomes.append(None)
        if broken:
            self.close()  # a fresh producer on the next attempt
        return outcomes

    @staticmethod
    def _classify(exc: Exception) -> DeliveryError:
        if type(exc).__name__ in _PERMANENT:
            return PermanentError(f"Kafka refused the record: {exc!r}")
        if isinstance(exc, OSError):
            return TransientError(f"Kafka connection error: {exc!r}")
        return TransientError(f"Kafka error: {exc!r}")

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=1)
            except Exception:  # closing a broken producer: nothing left to save
                pass
