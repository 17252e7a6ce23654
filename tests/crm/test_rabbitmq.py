"""RabbitMQ transport against the real local broker: the event type travels as the AMQP
message *property* `type`, never as a header; messages are persistent and confirmed."""

from __future__ import annotations

import json
import os
from decimal import Decimal

import pika
import pika.exceptions
import pytest

from crm.models import OutboxEvent
from crm.services import deliver_pending
from crm.transports import Message, TransientError
from crm.transports.rabbitmq import RabbitMQTransport
from tests.crm.conftest import SELECTION, place, rows, settle
from tests.factories import fund, make_player

pytestmark = pytest.mark.rabbitmq

AMQP_URL = os.environ.get("TOUCHLINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = f"tl_crm_test_{os.getpid()}"
EXCHANGE, QUEUE, KEY = f"{PREFIX}_x", f"{PREFIX}_q", f"{PREFIX}.sportsbook"


@pytest.fixture
def broker():
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except pika.exceptions.AMQPConnectionError:
        pytest.skip(f"RabbitMQ is not reachable at {AMQP_URL}")
    channel = connection.channel()
    channel.exchange_declare(EXCHANGE, exchange_type="direct", auto_delete=False)
    channel.queue_declare(QUEUE, auto_delete=False)
    channel.queue_purge(QUEUE)
    channel.queue_bind(QUEUE, EXCHANGE, routing_key=KEY)
    yield channel
    channel.queue_delete(QUEUE)
    channel.exchange_delete(EXCHANGE)
    connection.close()


@pytest.fixture
def transport():
    t = RabbitMQTransport(AMQP_URL, EXCHANGE, KEY, timeout=5)
    yield t
    t.close()


def drain(channel) -> list[tuple[pika.BasicProperties, bytes]]:
    messages = []
    while True:
        method, properties, body = channel.basic_get(QUEUE, auto_ack=True)
        if method is None:
            return messages
        messages.append((properties, body))


def test_the_type_is_a_message_property_not_a_header(broker, transport):
    body = json.dumps({"activity_id": "tl-bet-1", "type": "Bet"}).encode()
    transport.send(Message(activity_id="tl-bet-1", user_id="alice", body=body))

    ((properties, received),) = drain(broker)
    assert properties.type == "SPORTSBOOK"
    assert not properties.headers  # FT ignores headers: nothing relies on one
    assert properties.delivery_mode == 2  # persistent
    assert properties.content_type == "application/json"
    assert properties.message_id == "tl-bet-1"
    assert received == body  # the payload is untouched (its own "type" is Bet/Settlement)


@pytest.mark.django_db
def test_outbox_delivers_through_rabbitmq_in_order(broker, transport):
    alice = make_player("alice")
    fund(alice, "50.00")
    for n in range(3):
        placed = place(alice, "5.00", f"b-{n}", odds=Decimal("2"), selections=[SELECTION])
        settle(placed.bet.pk, "10.00", "won")

    result = deliver_pending(transport=transport)
    assert len(result.delivered) == 6
    messages = drain(broker)
    assert [json.loads(body)["activity_id"] for _, body in messages] == [r.activity_id for r in rows()]
    assert [body.decode() for _, body in messages] == [r.body for r in rows()]
    assert {p.type for p, _ in messages} == {"SPORTSBOOK"}
    assert {r.status for r in rows()} == {OutboxEvent.Status.DELIVERED}


def test_unroutable_message_is_an_error_not_a_silent_drop(broker):
    transport = RabbitMQTransport(AMQP_URL, EXCHANGE, f"{PREFIX}.nobody-listens", timeout=5)
    try:
        with pytest.raises(TransientError, match="unroutable"):
            transport.send(Message(activity_id="x", user_id="1", body=b"{}"))
    finally:
        transport.close()


def test_missing_exchange_is_transient_and_the_transport_recovers(broker, transport):
    wrong = RabbitMQTransport(AMQP_URL, f"{PREFIX}_missing", KEY, timeout=5)
    with pytest.raises(TransientError, match="AMQP error"):
        wrong.send(Message(activity_id="x", user_id="1", body=b"{}"))
    wrong.exchange = EXCHANGE  # staff fixed the configuration: the next attempt reconnects
    wrong.send(Message(activity_id="y", user_id="1", body=b"{}"))
    wrong.close()
    assert [p.message_id for p, _ in drain(broker)] == ["y"]


def test_bad_credentials_are_transient():
    transport = RabbitMQTransport("amqp://guest:wrong@127.0.0.1:5672/%2F", EXCHANGE, KEY, timeout=5)
    with pytest.raises(TransientError):
        transport.send(Message(activity_id="x", user_id="1", body=b"{}"))


def test_a_window_of_messages_is_confirmed_together(broker, transport):
    messages = [Message(activity_id=f"tl-bet-{n}", user_id=f"p{n}", body=b"{}") for n in range(50)]
    assert transport.send_many(messages) == [None] * 50
    assert [p.message_id for p, _ in drain(broker)] == [m.activity_id for m in messages]
    transport.send(Message(activity_id="after", user_id="p", body=b"{}"))  # the channel stays usable
    assert [p.message_id for p, _ in drain(broker)] == ["after"]
