"""RabbitMQ: one persistent message per event, with publisher confirms.

Fast Track reads the event type from the AMQP *message property* `type` (BasicProperties.type),
not from a header (headers are ignored) and not from the payload. The exchange and routing
key come from Fast Track at onboarding (crm.conf AMQP_EXCHANGE / AMQP_ROUTING_KEY); we never
declare them. `mandatory=True` turns "no queue bound" into an error instead of a silent drop.

Confirms are pipelined: `send_many` publishes a window of messages (the outbox passes at most
one per player) and then waits for their acks together. pika's BlockingChannel only offers a
publish that waits for its own ack, which on a durable queue costs one broker fsync per
message (about 500 messages/s here); so this module drives the async channel underneath it
(`BlockingChannel._impl`, pika 1.x) for the publish and the ack/nack/return callbacks, while
the blocking connection still runs the I/O.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pika
import pika.exceptions
from pika.spec import Basic

from crm import conf
from crm.transports import DeliveryError, Message, PermanentError, TransientError, Transport


class RabbitMQTransport(Transport):
    name = "rabbitmq"

    def __init__(self, url: str, exchange: str, routing_key: str, *, timeout: float | None = None) -> None:
        self.url = url
        self.exchange = exchange
        self.routing_key = routing_key
        self.timeout = timeout or conf.AMQP_CONFIRM_TIMEOUT
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        self._next_tag = 1
        self._acked: dict[int, bool] = {}  # delivery tag -> acked (True) / nacked (False)
        self._returned: set[str] = set()  # message ids the broker could not route

    # --- connection ----------------------------------------------------------------------------

    def _open(self):
        if self._channel is not None and self._channel.is_open:
            return self._channel._impl
        self.close()
        params = pika.URLParameters(self.url)
        params.socket_timeout = self.timeout
        params.blocked_connection_timeout = self.timeout
        params.connection_attempts = 1
        self._connection = pika.BlockingConnection(params)
        self._channel = self._connection.channel()
        impl = self._channel._impl
        selected: list[bool] = []
        impl.add_on_return_callback(self._on_return)
        impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _frame: selected.append(True))
        self._wait(lambda: bool(selected), "confirm.select")
        self._next_tag, self._acked, self._returned = 1, {}, set()
        return impl

    def _on_confirm(self, frame) -> None:
        method = frame.method
        acked = isinstance(method, Basic.Ack)
        tags = range(1, method.delivery_tag + 1) if method.multiple else (method.delivery_tag,)
        for tag in tags:
            self._acked.setdefault(tag, acked)

    def _on_return(self, _channel, _method, properties, _body) -> None:
        # Sent before the ack of the same message: the ack then means "accepted, unroutable".
        self._returned.add(properties.message_id)

    def _wait(self, done, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not done():
            if self._channel is None or not self._channel.is_open:
                raise pika.exceptions.ChannelClosed(0, f"channel closed while waiting for {what}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {what} within {self.timeout}s")
            self._connection.process_data_events(time_limit=min(remaining, 0.05))

    @staticmethod
    def properties(message: Message) -> pika.BasicProperties:
        return pika.BasicProperties(
            type=message.event_type,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message.activity_id,
        )

    # --- sending ---------------------------------------------------------------------------------

    def send(self, message: Message) -> None:
        (outcome,) = self.send_many([message])
        if outcome is not None:
            raise outcome

    def send_many(self, messages: Sequence[Message], deadline: float | None = None) -> list[DeliveryError | None]:
        if not messages:
            return []
        try:
            impl = self._open()
            tags = []
            for message in messages:
                impl.basic_publish(
                    exchange=self.exchange,
                    routing_key=self.routing_key,
                    body=message.body,
                    properties=self.properties(message),
                    mandatory=True,
                )
                tags.append(self._next_tag)
                self._next_tag += 1
            self._wait(lambda: all(tag in self._acked for tag in tags), "publisher confirm")
        except pika.exceptions.ProbableAuthenticationError as exc:
            self.close()
            return [TransientError(f"authentication failed: {exc!r}")] * len(messages)
        except pika.exceptions.BodyTooLongError as exc:
            return [PermanentError(f"message too large: {exc!r}")] * len(messages)
        except (pika.exceptions.AMQPError, OSError, TimeoutError) as exc:
            # Channel closed by the broker (e.g. exchange missing), connection lost, no confirm
            # in time: nothing in this window counts as delivered; reconnect on the next attempt.
            self.close()
            return [TransientError(f"AMQP error: {exc!r}")] * len(messages)

        outcomes: list[DeliveryError | None] = []
        for message, tag in zip(messages, tags, strict=True):
            acked = self._acked.pop(tag)
            if message.activity_id in self._returned:
                self._returned.discard(message.activity_id)
                outcomes.append(
                    TransientError(
                        f"unroutable: no queue bound to exchange {self.exchange!r} with key {self.routing_key!r}"
                    )
                )
            elif not acked:
                outcomes.append(TransientError("broker refused the message (nack)"))
            else:
                outcomes.append(None)
        return outcomes

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # closing a broken connection: nothing left to save
                pass
