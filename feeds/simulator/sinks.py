"""Where the simulator's messages go: RabbitMQ, the apply pipeline in-process, or a list (tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class Sink(Protocol):
    def send(self, routing_key: str, body: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class AmqpSink:
    """Publishes to a topic exchange on RabbitMQ (declared if missing: local broker only)."""

    def __init__(self, url: str, exchange: str) -> None:
        import pika

        self._pika = pika
        self.exchange = exchange
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.sent = 0

    def send(self, routing_key: str, body: bytes) -> None:
        props = self._pika.BasicProperties(timestamp=int(time.time()), content_type="text/xml")
        self.channel.basic_publish(self.exchange, routing_key, body, properties=props)
        self.sent += 1

    def flush(self) -> None:
        self.connection.process_data_events(time_limit=0)

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()


class DirectSink:
    """Feeds the apply pipeline in-process (the embedded demo: no broker)."""

    def __init__(self, *, batch_size: int = 200, on_result: Callable | None = None) -> None:
        self.batch_size = batch_size
        self.on_result = on_result
        self._buffer: list = []
        self.sent = 0

    def send(self, routing_key: str, body: bytes) -> None:
        from feeds.models import FeedMessage
        from feeds.services.ingest import Incoming

        self._buffer.append(Incoming(body=body, routing_key=routing_key, source=FeedMessage.Source.SIMULATOR))
        self.sent += 1
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        from feeds.services.ingest import apply_batch

        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        result = apply_batch(batch)
        if self.on_result:
            self.on_result(result)

    def close(self) -> None:
        self.flush()


class ListSink:
    """Collects (routing key, body) pairs (tests)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    @property
    def sent(self) -> int:
        return len(self.messages)

    def send(self, routing_key: str, body: bytes) -> None:
        self.messages.append((routing_key, body))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
