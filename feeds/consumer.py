"""The AMQP consumer: a thin loop around feeds.services.ingest (parse_batch, apply_parsed).

- Declares a server-named, exclusive, auto-delete queue (UOF forbids named queues), binds it
  to the `unifiedfeed` topic exchange with the configured keys, consumes with a bounded
  prefetch.
- The AMQP thread collects deliveries into batches (size or wait limit) and parses them; an
  apply thread writes each batch in one database transaction and then asks the AMQP thread to
  ack it (multiple=True up to the batch's last tag): ack only after commit, in order. The two
  threads overlap parsing (CPU) with the database round trips (the GIL is released while
  PostgreSQL works); at most two parsed batches wait, and the prefetch bounds the rest.
- On database unavailability the apply thread keeps the batch unacked and retries with backoff
  while the AMQP thread keeps serving heartbeats. On a lost connection every producer is marked
  down (the queue died with the connection: messages are missing until a recovery) and the
  AMQP side reconnects with backoff; batches already parsed are still applied (their acks are
  moot).
- Partitions (feeds.services.consumers): several consumers split the feed by their bindings or
  by `share` (events hashed k of N; other events' messages are acked unparsed). Each registers
  a FeedConsumer row and refreshes it from the apply thread; a clean stop deletes it.
- After a commit it nudges the producer health check (a down producer's alives resumed) and the
  fixture fetcher through Celery (eager in the demo: then it runs in the apply thread, after the
  commit, never inside a transaction).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import pika
import pika.exceptions
from django.db import InterfaceError, OperationalError, close_old_connections
from django.db import connection as db_connection
from django.utils import timezone
from prometheus_client import Counter, Histogram

from feeds import conf
from feeds.protocol.routing import bindings
from feeds.services import consumers, producers
from feeds.services.ingest import BatchResult, Incoming, Parsed, apply_parsed, parse_batch

logger = logging.getLogger("touchline.feeds.consumer")

MESSAGES = Counter("touchline_uof_messages_total", "UOF messages handled by outcome", ["outcome"])
BATCH_SECONDS = Histogram(
    "touchline_uof_batch_seconds",
    "Time to apply and commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RECONNECTS = Counter("touchline_uof_reconnects_total", "AMQP reconnects")

_AMQP_ERRORS = (pika.exceptions.AMQPError, ConnectionError, OSError)
# pika reads at most 100 KB per socket event: about 14 typical odds_change messages.
_POLL_BURST = 10
# How often the apply thread refreshes this consumer's FeedConsumer row (well inside
# UOF_CONSUMER_SILENCE_SECONDS; a batch stuck on a dead database delays it, as it should).
_BEAT_SECONDS = 5.0


def binding_keys() -> list[str]:
    if conf.ROUTING_KEYS:
        return list(conf.ROUTING_KEYS)
    return bindings(conf.ROUTING, sports=conf.SPORTS, node_id=conf.node_id())


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    messages: int = 0
    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    last_batch_seconds: float = 0.0
    skipped: int = 0  # other shares' messages, acked unparsed

    def add(self, result: BatchResult) -> dict[str, int]:
        """Count the batch in; returns its messages per outcome."""
        self.batches += 1
        self.messages += len(result.outcomes)
        self.last_batch_seconds = result.seconds
        counts = Tally(str(o.outcome) for o in result.outcomes)
        for outcome, n in counts.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n
        return counts


def _default_after_commit(result: BatchResult, consumer: Consumer) -> None:
    from feeds import tasks

    if result.recovery_check:
        tasks.producers_check.delay()
    if result.fixtures_needed and time.monotonic() - consumer.fixtures_triggered_at > 10:
        consumer.fixtures_triggered_at = time.monotonic()
        tasks.fixtures_fetch.delay()


@dataclass
class _Batch:
    parsed: list[Parsed]
    ack: Callable[[], None]  # thread-safe: schedules the ack on the AMQP thread


class Consumer:
    def __init__(
        self,
        *,
        url: str,
        exchange: str | None = None,
        keys: list[str] | None = None,
        prefetch: int | None = None,
        batch_size: int | None = None,
        batch_wait_ms: int | None = None,
        stop: threading.Event | None = None,
        declare_exchange: bool = False,
        after_commit: Callable[[BatchResult, Consumer], None] | None = _default_after_commit,
        on_batch: Callable[[BatchResult], None] | None = None,
        mark_down_on_connect: bool = True,
        connection_name: str = "touchline-uof-consumer",
        name: str | None = None,
        share: tuple[int, int] | None = None,
        register: bool = True,
    ) -> None:
        self.url = url
        self.exchange = exchange or conf.EXCHANGE
        self.keys = keys or binding_keys()
        self.prefetch = prefetch or conf.PREFETCH
        self.batch_size = min(batch_size or conf.BATCH_SIZE, self.prefetch)
        self.batch_wait = (conf.BATCH_WAIT_MS if batch_wait_ms is None else batch_wait_ms) / 1000
        self.poll_interval = conf.POLL_INTERVAL_MS / 1000
        self._received = 0
        self.stop = stop or threading.Event()
        self.declare_exchange = declare_exchange
        self.after_commit = after_commit
        self.on_batch = on_batch
        self.mark_down_on_connect = mark_down_on_connect
        self.connection_name = connection_name
        self.share = share
        self.share_text = f"{share[0]}/{share[1]}" if share else ""
        self.name = name or consumers.default_name(self.keys, self.share_text)
        self.register = register
        self._beat_at = 0.0
        self.stats = Stats()
        self.fixtures_triggered_at = 0.0
        self.ready = threading.Event()  # set once the queue is bound (tests wait on it)
        self.queue_name = ""
        self._pending: list[tuple[int, Incoming]] = []
        self._parsed: list[Parsed] = []  # the first len(_parsed) of _pending, parsed ahead
        self._first_at = 0.0
        self._waiting: deque[_Batch] = deque()  # parsed, not yet handed to the apply thread
        self._to_apply: queue.Queue[_Batch] = queue.Queue(maxsize=2)
        self._in_flight = 0  # batches handed over and not yet applied
        self._lock = threading.Lock()

    # --- AMQP side ---------------------------------------------------------------------------

    def run(self) -> None:
        if self.register:
            self._registry(consumers.register, keys=self.keys, share=self.share_text)
        applier = threading.Thread(target=self._apply_loop, name="uof-apply", daemon=True)
        applier.start()
        delay = 1.0
        try:
            while not self.stop.is_set():
                try:
                    self._run_once()
                    delay = 1.0
                except _AMQP_ERRORS as exc:
                    self.ready.clear()
                    self.stats.reconnects += 1
                    RECONNECTS.inc()
                    logger.warning("AMQP connection lost (%s); producers down, reconnecting in %.0fs", exc, delay)
                    self._pending.clear()  # unacked: gone with the exclusive queue
                    self._parsed.clear()
                    self._mark_down("AMQP connection lost")
                    self.stop.wait(delay * random.uniform(0.8, 1.2))
                    delay = min(delay * 2, conf.RECONNECT_MAX_SECONDS)
        finally:
            self.stop.set()
            applier.join(30)
            if self.register:
                # Stopped on purpose: no longer expected, its share is nobody's to miss.
                self._registry(consumers.deregister)
            db_connection.close()

    def _registry(self, action: Callable[..., None], **kwargs) -> None:
        try:
            action(self.name, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            logger.error("consumer registry (%s): %s", action.__name__, exc)
            close_old_connections()

    def _mark_down(self, reason: str) -> None:
        try:
            producers.producers_mark_down(reason)
        except (OperationalError, InterfaceError) as exc:
            logger.error("could not mark producers down: %s", exc)
            close_old_connections()

    def _run_once(self) -> None:
        params = pika.URLParameters(self.url)
        params.heartbeat = conf.HEARTBEAT_SECONDS
        params.client_properties = {"connection_name": self.connection_name}
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            if self.declare_exchange:
                channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
            channel.basic_qos(prefetch_count=self.prefetch)
            declared = channel.queue_declare(queue="", exclusive=True, auto_delete=True, durable=False)
            self.queue_name = declared.method.queue
            for key in self.keys:
                channel.queue_bind(self.queue_name, self.exchange, routing_key=key)
            channel.basic_consume(self.queue_name, self._on_message, auto_ack=False)
            if self.mark_down_on_connect:
                # A new queue: whatever was published before it existed is missing.
                self._mark_down("consumer connected: new queue, recovery needed")
            logger.info("consuming %s from %s with %s", self.queue_name, self.exchange, self.keys)
            self.ready.set()
            while not self.stop.is_set():
                if self._pending:
                    wait = self._first_at + self.batch_wait - time.monotonic()
                    if wait <= 0:
                        # The batch is due but the apply side is busy: wait for it (or for more
                        # messages) instead of spinning, which would take the GIL from it.
                        wait = self.poll_interval or 0.005
                else:
                    wait = self.batch_wait or 0.05
                received = self._received
                connection.process_data_events(time_limit=wait if not self._waiting else min(wait, 0.01))
                received = self._received - received
                # One dispatch can deliver up to `prefetch` messages: cut them batch_size at a time.
                while len(self._pending) >= self.batch_size:
                    self._cut(connection, channel)
                # Cut a partial batch when it has waited long enough, unless the apply side is
                # still busy: then let it grow (up to batch_size), so batches adapt to the load.
                if (
                    self._pending
                    and time.monotonic() - self._first_at >= self.batch_wait
                    and not self._waiting
                    and self._to_apply.empty()
                ):
                    self._cut(connection, channel)
                self._hand_over()
                # Parse what waits for the next batch now, while the apply thread waits on the
                # database, so that the batch is ready the moment the apply side is free.
                self._parse_ahead()
                if 0 < received < _POLL_BURST and self.poll_interval:
                    # Trickling in: let more gather (the apply thread has the GIL meanwhile).
                    # A read that brought many means more are waiting: read again at once.
                    self.stop.wait(self.poll_interval)
            # Stopping: finish what we hold and wait for its acks before closing.
            while self._pending:
                self._cut(connection, channel)
            deadline = time.monotonic() + 30
            while (self._waiting or self._busy()) and time.monotonic() < deadline:
                self._hand_over()
                connection.process_data_events(time_limit=0.02)
        finally:
            self.ready.clear()
            if connection.is_open:
                try:
                    connection.close()
                except _AMQP_ERRORS:
                    pass

    def _on_message(self, channel, method, properties, body: bytes) -> None:
        if self.share is not None:
            share = consumers.event_share(method.routing_key, self.share[1])
            if share is not None and share != self.share[0]:
                # Another consumer's event: ack now (an ack of one tag; the batch acks that
                # follow with multiple=True only cover tags still outstanding).
                channel.basic_ack(delivery_tag=method.delivery_tag)
                self.stats.skipped += 1
                return
        self._received += 1
        if not self._pending:
            self._first_at = time.monotonic()
        self._pending.append(
            (method.delivery_tag, Incoming(body=body, routing_key=method.routing_key, received_at=timezone.now()))
        )

    def _parse_ahead(self) -> None:
        done = len(self._parsed)
        if done < len(self._pending):
            self._parsed.extend(parse_batch([item for _, item in self._pending[done : done + self.batch_size]]))

    def _cut(self, connection: pika.BlockingConnection, channel) -> None:
        batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size :]
        self._first_at = time.monotonic()
        ready = min(len(self._parsed), len(batch))
        parsed = self._parsed[:ready] + parse_batch([item for _, item in batch[ready:]])
        del self._parsed[:ready]
        ack = partial(channel.basic_ack, delivery_tag=batch[-1][0], multiple=True)

        def schedule_ack() -> None:
            try:
                connection.add_callback_threadsafe(ack)
            except _AMQP_ERRORS + (RuntimeError,):
                pass  # the connection is gone; so is the queue these messages came from

        self._waiting.append(_Batch(parsed, schedule_ack))

    def _busy(self) -> bool:
        with self._lock:
            return self._in_flight > 0

    def _hand_over(self) -> None:
        while self._waiting:
            try:
                with self._lock:
                    self._to_apply.put_nowait(self._waiting[0])
                    self._in_flight += 1
            except queue.Full:
                return
            self._waiting.popleft()

    # --- apply side --------------------------------------------------------------------------

    def _apply_loop(self) -> None:
        try:
            while not (self.stop.is_set() and not self._busy() and not self._waiting):
                if self.register and time.monotonic() - self._beat_at > _BEAT_SECONDS:
                    self._beat_at = time.monotonic()
                    self._registry(consumers.heartbeat, keys=self.keys, share=self.share_text)
                try:
                    batch = self._to_apply.get(timeout=0.1)
                except queue.Empty:
                    continue
                try:
                    self._apply(batch)
                finally:
                    with self._lock:
                        self._in_flight -= 1
        finally:
            db_connection.close()

    def _apply(self, batch: _Batch) -> None:
        delay = 0.5
        while True:
            try:
                result = apply_parsed(batch.parsed, consumer=self.name if self.register else "")
                break
            except (OperationalError, InterfaceError) as exc:
                # The database is unavailable: keep the messages unacked and try again.
                logger.error("database unavailable (%s); retrying batch of %d in %.1fs", exc, len(batch.parsed), delay)
                close_old_connections()
                time.sleep(delay)
                delay = min(delay * 2, 30)
                if self.stop.is_set() and delay > 4:
                    return  # shutting down: leave them unacked
        batch.ack()
        try:
            counts = self.stats.add(result)
            BATCH_SECONDS.observe(result.seconds)
            for outcome, n in counts.items():  # once per outcome, not per message
                MESSAGES.labels(outcome).inc(n)
            if self.on_batch:
                self.on_batch(result)
        except Exception:
            # Bookkeeping after the commit must not end the apply thread: the AMQP side would
            # go on receiving into batches that nobody applies.
            logger.exception("after-batch bookkeeping failed")
        if self.after_commit:
            try:
                self.after_commit(result, self)
            except Exception:
                logger.exception("after-commit hook failed")
