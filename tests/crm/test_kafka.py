"""Kafka transport. No Kafka broker can be installed on this machine, so these tests drive
the transport with a fake producer object: they check what is handed to kafka-python
(topic, key, value, header) and how its errors are classified. The wire itself is untested."""

from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():  # kafka-python loads its schemas with a deprecated importlib API
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import errors

from crm.transports import Message, PermanentError, TransientError
from crm.transports.kafka import KafkaTransport

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get(self, timeout=None):
        if self.error:
            raise self.error
        return "record-metadata"


class FakeProducer:
    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple] = []
        self.error = error
        self.closed = False

    def send(self, topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None):
        self.sent.append((topic, key, value, headers))
        return FakeFuture(self.error)

    def close(self, timeout=None):
        self.closed = True


MESSAGE = Message(activity_id="tl-bet-7", user_id="alice", body=b'{"activity_id":"tl-bet-7"}')


def test_record_has_the_type_header_and_the_user_as_key():
    producer = FakeProducer()
    transport = KafkaTransport("kafka:9092", "ft-sportsbook", producer_factory=lambda: producer)
    transport.send(MESSAGE)
    assert producer.sent == [("ft-sportsbook", b"alice", b'{"activity_id":"tl-bet-7"}', [("type", b"SPORTSBOOK")])]


def test_same_player_same_key_so_same_partition():
    producer = FakeProducer()
    transport = KafkaTransport("kafka:9092", "t", producer_factory=lambda: producer)
    for n in range(3):
        transport.send(Message(activity_id=f"a{n}", user_id="bob", body=b"{}"))
    assert {key for _, key, _, _ in producer.sent} == {b"bob"}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.KafkaTimeoutError("no ack"), TransientError),
        (errors.NotLeaderForPartitionError(), TransientError),
        (errors.MessageSizeTooLargeError(), PermanentError),
        (errors.InvalidTopicError(), PermanentError),
    ],
)
def test_errors_are_classified(error, expected):
    producer = FakeProducer(error)
    transport = KafkaTransport("kafka:9092", "t", producer_factory=lambda: producer)
    with pytest.raises(expected):
        transport.send(MESSAGE)


def test_a_transient_error_drops_the_producer_and_the_next_send_makes_a_new_one():
    producers = [FakeProducer(errors.KafkaTimeoutError("down")), FakeProducer()]
    made = iter(producers)
    transport = KafkaTransport("kafka:9092", "t", producer_factory=lambda: next(made))
    with pytest.raises(TransientError):
        transport.send(MESSAGE)
    assert producers[0].closed
    transport.send(MESSAGE)
    assert len(producers[1].sent) == 1


def test_no_broker_reachable_is_transient():
    # The real kafka-python producer, pointed at a closed port: it cannot bootstrap.
    transport = KafkaTransport("127.0.0.1:1", "t", timeout=1)
    with pytest.raises(TransientError):
        transport.send(MESSAGE)


def test_send_many_reports_each_record():
    class Mixed(FakeProducer):
        def send(self, topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None):
            self.sent.append((topic, key, value, headers))
            return FakeFuture(errors.MessageSizeTooLargeError() if key == b"big" else None)

    producer = Mixed()
    transport = KafkaTransport("kafka:9092", "t", producer_factory=lambda: producer)
    outcomes = transport.send_many(
        [Message(activity_id="a", user_id="alice", body=b"{}"), Message(activity_id="b", user_id="big", body=b"{}")]
    )
    assert outcomes[0] is None and isinstance(outcomes[1], PermanentError)
    assert not producer.closed  # a permanent refusal says nothing about the connection
