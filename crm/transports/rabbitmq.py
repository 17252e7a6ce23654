"""RabbitMQ: one persistent message per event, with publisher confirms.

Fast Track reads the event type from the AMQP *message property* `type` (BasicProperties.type),
not from a header (headers are ignored) and not from the payload. The exchange and routing
key come from Fast Track at onboarding (crm.conf AMQP_EXCHANGE / AMQP_ROUTING_KEY); we never
declare them. `mandatory=True` turns "no queue bound" into an error instead of a silent drop.
"""

from __future__ import annotations

import pika
import pika.exceptions

from crm import conf
from crm.transports import Message, PermanentError, TransientError, Transport


class RabbitMQTransport(Transport):
    name = "rabbitmq"

    def __init__(self, url: str, exchange: str, routing_key: str, *, timeout: float | None = None) -> None:
        self.url = url
        self.exchange = exchange
        self.routing_key = routing_key
        self.timeout = timeout or conf.AMQP_CONFIRM_TIMEOUT
        self._connection: pika.BlockingConnection | None = None
        self._channel = None

    def _open(self):
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self.close()
        params = pika.URLParameters(self.url)
        params.socket_timeout = self.timeout
        params.blocked_connection_timeout = self.timeout
        params.connection_attempts = 1
        self._connection = pika.BlockingConnection(params)
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()  # basic_publish now waits for the broker's ack
        return self._channel

    @staticmethod
    def properties(message: Message) -> pika.BasicProperties:
        return pika.BasicProperties(
            type=message.event_type,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message.activity_id,
        )

    def send(self, message: Message) -> None:
        try:
            channel = self._open()
            channel.basic_publish(
                exchange=self.exchange,
                routing_key=self.routing_key,
                body=message.body,
                properties=self.properties(message),
                mandatory=True,
            )
        except pika.exceptions.UnroutableError as exc:
            raise TransientError(
                f"unroutable: no queue bound to exchange {self.exchange!r} with key {self.routing_key!r}"
            ) from exc
        except pika.exceptions.NackError as exc:
            raise TransientError("broker refused the message (nack)") from exc
        except pika.exceptions.ProbableAuthenticationError as exc:
            self.close()
            raise TransientError(f"authentication failed: {exc!r}") from exc
        except pika.exceptions.BodyTooLongError as exc:
            raise PermanentError(f"message too large: {exc!r}") from exc
        except (pika.exceptions.AMQPError, OSError) as exc:
            # Channel closed by the broker (e.g. exchange missing), connection lost…:
            # reconnect on the next attempt.
            self.close()
            raise TransientError(f"AMQP error: {exc!r}") from exc

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # closing a broken connection: nothing left to save
                pass
