"""End to end through the local RabbitMQ: publish on a topic exchange with UOF routing keys,
consume from a server-named exclusive queue, apply, commit, ack. Exchanges are named
tl_feeds_test_* (in the vhost of TOUCHLINE_TEST_AMQP_URL) and deleted afterwards. PostgreSQL only: the consumer writes from its own threads,
which SQLite's shared in-memory test database cannot take ("database table is locked")."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid

import pika
import pytest

from feeds.consumer import Consumer
from feeds.models import FeedMessage, Market, Producer
from feeds.protocol.routing import bindings
from feeds.simulator import FEED_SAMPLES, AmqpSink, routing_key_for
from tests.feeds.helpers import alive, odds_change, rabbitmq_available, sample
from tests.waiting import wait_for

URL = os.environ.get("TOUCHLINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
VHOST = pika.URLParameters(URL).virtual_host

pytestmark = [
    pytest.mark.rabbitmq,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not rabbitmq_available(), reason="needs the local RabbitMQ on 127.0.0.1:5672"),
]


@pytest.fixture
def exchange():
    name = f"tl_feeds_test_{uuid.uuid4().hex[:8]}"
    yield name
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    connection.channel().exchange_delete(name)
    connection.close()


@pytest.fixture
def consume(exchange):
    started: list[tuple[Consumer, threading.Thread]] = []

    def start(keys: list[str], **kwargs) -> Consumer:
        consumer = Consumer(
            url=URL,
            exchange=exchange,
            keys=keys,
            batch_wait_ms=20,
            declare_exchange=True,
            after_commit=None,
            stop=threading.Event(),
            connection_name=f"{exchange}-consumer",
            **kwargs,
        )
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        assert consumer.ready.wait(10), "consumer did not bind its queue"
        started.append((consumer, thread))
        return consumer

    yield start
    for consumer, thread in started:
        consumer.stop.set()
        thread.join(10)


def queue_depth(name: str) -> tuple[int, int]:
    out = subprocess.run(
        ["rabbitmqctl", "list_queues", "-q", "-p", VHOST, "name", "messages_ready", "messages_unacknowledged"],
        capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == name:
            return int(parts[1]), int(parts[2])
    raise AssertionError(f"queue {name} not found")


def test_samples_published_to_rabbitmq_are_applied_and_acked(exchange, consume, postgres_only):
    consumer = consume(bindings("all", node_id=1), prefetch=50, batch_size=10)
    sink = AmqpSink(URL, exchange)
    for name in FEED_SAMPLES:
        body = sample(name)
        sink.send(routing_key_for(body), body)
    sink.send("hi.-.live.odds_change.1.sr:match.5.-", b"<odds_change this is not xml")
    sink.close()
    total = len(FEED_SAMPLES) + 1
    wait_for(lambda: FeedMessage.objects.count() == total)
    wait_for(lambda: consumer.stats.messages == total)
    assert queue_depth(consumer.queue_name) == (0, 0)  # everything acked after commit
    assert Market.objects.filter(event__urn="sr:match:31604309").count() == 170
    rows = FeedMessage.objects.filter(source="amqp")
    assert rows.count() == total
    assert (
        rows.get(kind="bet_settlement", event_urn="sr:match:16807109").routing_key
        == "lo.pre.-.bet_settlement.1.sr:match.16807109.-"
    )
    assert rows.get(outcome="rejected").routing_key == "hi.-.live.odds_change.1.sr:match.5.-"
    assert consumer.stats.batches >= 3  # batches of at most 10


def test_bindings_filter_what_reaches_us(exchange, consume, postgres_only):
    consumer = consume(bindings("prematch", node_id=1))
    sink = AmqpSink(URL, exchange)
    sink.send(
        "hi.-.live.odds_change.1.sr:match.1.-",
        odds_change(event="sr:match:1", ts=1, markets=[(1, "", 1, {"1": "2"})]).encode(),
    )
    sink.send(
        "hi.pre.-.odds_change.1.sr:match.2.-",
        odds_change(event="sr:match:2", ts=1, markets=[(1, "", 1, {"1": "2"})]).encode(),
    )
    sink.send(
        "hi.pre.-.odds_change.1.sr:match.3.7",
        odds_change(event="sr:match:3", ts=1, markets=[(1, "", 1, {"1": "2"})]).encode(),
    )
    sink.send("-.-.-.alive.-.-.-.-", alive(3).encode())
    sink.close()
    wait_for(lambda: consumer.stats.messages == 2)
    time.sleep(0.3)
    assert consumer.stats.messages == 2  # the live message and another node's recovery stayed out
    assert set(FeedMessage.objects.values_list("kind", "event_urn")) == {("odds_change", "sr:match:2"), ("alive", "")}


def test_lost_connection_marks_producers_down_and_reconnects(exchange, consume, postgres_only):
    consumer = consume(bindings("all"))
    Producer.objects.create(id=1, name="LO", status="up", subscribed=True)
    name = consumer.connection_name
    wait_for(
        lambda: (
            name
            in subprocess.run(
                ["rabbitmqctl", "list_connections", "-q", "client_properties"], capture_output=True, text=True
            ).stdout
        )
    )
    # the first connect already marked it down ("new queue"): bring it up again, then cut the line
    Producer.objects.filter(pk=1).update(status="up")
    pid = None
    out = subprocess.run(
        ["rabbitmqctl", "list_connections", "-q", "pid", "client_properties"], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        if name in line:
            pid = line.split()[0]
    assert pid
    subprocess.run(
        ["rabbitmqctl", "close_connection", pid, "test: connection lost"], capture_output=True, timeout=30, check=True
    )
    wait_for(lambda: consumer.stats.reconnects == 1)
    wait_for(lambda: Producer.objects.get(pk=1).status == "down")
    assert Producer.objects.get(pk=1).status_reason in (
        "AMQP connection lost",
        "consumer connected: new queue, recovery needed",
    )
    assert consumer.ready.wait(15)
    sink = AmqpSink(URL, exchange)
    sink.send("-.-.-.alive.-.-.-.-", alive(1).encode())
    sink.close()
    wait_for(lambda: FeedMessage.objects.filter(kind="alive").count() == 1)
