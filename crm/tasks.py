"""Celery tasks: thin wrappers around crm.services.

`kick()` is what the outbox registers with transaction.on_commit. With a broker it queues
one `deliver_outbox` task, coalescing bursts through a cache flag: the flag is set when a task
is queued and cleared when that task starts, so a kick that finds it set knows a task that
has not started yet will see its rows. Without a broker (demo, tests) tasks are eager and
delivery runs right there, after the commit.

Asking the cache costs a Redis round trip, about 170 µs of CPU through Django's cache
(docs/benchmarks/igpx.md): on a wallet callback that is more than any of its SQL statements.
So each process asks at most once per FASTTRACK_KICK_INTERVAL_MS (`Kicker`). A commit inside
the interval is not dropped: it arms one trailing kick at the interval's end, sent from a
background thread, and a kick after a commit is all the flag protocol needs. Every commit
is therefore followed by a real kick within the interval (100 ms by default; Fast Track asks
for each event within 1 s).

The task a kick queues starts FASTTRACK_DELIVERY_DELAY_MS (250 ms) later, and the kicks of
that time find the flag set: under load the worker runs a few large batches a second instead
of dozens of small ones, each of which pays the claim and the record (docs/benchmarks/crm.md).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from celery import shared_task
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import DatabaseError
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from config.logthrottle import Throttled
from crm import breaker, conf, services
from crm.transports import current_transport, override_active

logger = logging.getLogger("touchline.crm")
# Redis down means every commit's kick fails: one line per minute with a count, not a traceback each.
throttled = Throttled(logger, interval=60.0)

KICK_KEY = "crm:outbox:kick"
PROBE_SCHEDULED_KEY = "crm:outbox:probe-scheduled"


_local = threading.local()


def _add_kick_flag() -> bool:
    """`cache.add(KICK_KEY, 1)`, the same key and value, on a Redis client kept per thread.

    Django's RedisCache builds a new redis.Redis client on every call (its get_client), about
    half of a kick's CPU on a wallet callback's server process (docs/benchmarks/crm.md); the
    client it builds is only a view of the backend's connection pool, so keeping one is safe.
    Other cache backends (tests, demo) go through cache.add."""
    backend = caches["default"]
    timeout = max(conf.SWEEP_SECONDS * 6, 60)
    if not isinstance(backend, RedisCache):
        return cache.add(KICK_KEY, 1, timeout=timeout)
    kept = getattr(_local, "redis", None)
    if kept is None or kept[0] is not backend._cache:
        kept = _local.redis = (
            backend._cache,
            backend._cache.get_client(write=True),
            backend.make_and_validate_key(KICK_KEY),
            backend._cache._serializer.dumps(1),
        )
    _, client, key, value = kept
    return bool(client.set(key, value, nx=True, ex=backend.get_backend_timeout(timeout)))


def queue_delivery(delay_ms: int | None = None) -> None:
    """Queue one delivery task unless one is queued and not yet started (the cache flag).

    The task starts FASTTRACK_DELIVERY_DELAY_MS later (`delay_ms`: a backlog's next task goes at
    once), so the commits of that time share it: the flag stays set until the task starts."""
    delay_ms = conf.DELIVERY_DELAY_MS if delay_ms is None else delay_ms
    if _add_kick_flag():
        if delay_ms:
            deliver_outbox.apply_async(countdown=delay_ms / 1000)
        else:
            deliver_outbox.delay()


class Kicker:
    """Calls `send` on the first kick of an interval and once at the end of an interval that
    saw more kicks, never more often than once per `interval()` seconds from the foreground.

    The trailing send runs on a daemon thread of this process (started on first need, again
    after a fork), so the committing request never waits for it."""

    def __init__(self, send: Callable[[], None], interval: Callable[[], float]) -> None:
        self._send = send
        self._interval = interval
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._armed = threading.Condition(self._lock)
        self._last = float("-inf")  # monotonic time of the last send
        self._due = False  # a kick is waiting for the trailing send
        self._sending = False
        self._thread: threading.Thread | None = None

    def __call__(self) -> None:
        interval = self._interval()
        with self._lock:
            now = time.monotonic()
            if now - self._last >= interval:
                self._last = now
                send = True
            else:
                send = False
                if not self._due:
                    self._due = True
                    if self._thread is None:
                        self._thread = threading.Thread(target=self._trail, name="crm-kick", daemon=True)
                        self._thread.start()
                    self._armed.notify()
        if send:
            self._safe_send("kick")

    @property
    def busy(self) -> bool:
        """A trailing kick is armed or being sent."""
        with self._lock:
            return self._due or self._sending

    def _trail(self) -> None:
        while True:
            with self._lock:
                while not self._due:
                    self._armed.wait()
                delay = self._last + self._interval() - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self._lock:
                self._due = False
                self._sending = True
                self._last = time.monotonic()
            try:
                self._safe_send("trailing kick")
            finally:
                with self._lock:
                    self._sending = False

    def _safe_send(self, what: str) -> None:
        try:
            self._send()
        except Exception as exc:  # the sweeper still delivers; say why the kick did not happen
            throttled.log(
                logging.ERROR,
                f"kick:{type(exc).__name__}",
                "%s: outbox kick failed (%s: %s); the sweeper will deliver",
                what,
                type(exc).__name__,
                exc,
                exc_info=True,
            )


_kicker = Kicker(queue_delivery, lambda: conf.KICK_INTERVAL_MS / 1000)


def kick() -> None:
    if settings.FASTTRACK_TRANSPORT == "off" and not override_active():
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        deliver_outbox.apply()
        return
    _kicker()


def _deliver(recover: bool = False) -> int:
    """One delivery run. A database or broker outage fails every kick's task the same way: it
    is logged once a minute with a count (Celery would log a traceback per task), and the next
    kick or sweep after the outage delivers."""
    try:
        if recover:
            services.recover_expired_leases()
        transport = current_transport()
        if transport is None:
            return 0
        result = services.deliver_pending(transport=transport)
        if result.more:  # the time budget ran out mid-backlog: carry on in a fresh task, at once
            queue_delivery(delay_ms=0)
        elif breaker.is_open():
            schedule_probe()
        return len(result.delivered)
    except (DatabaseError, RedisError, KombuError, OSError) as exc:
        throttled.log(
            logging.ERROR,
            f"deliver:{type(exc).__name__}",
            "outbox delivery failed (%s: %s); the next kick or sweep retries",
            type(exc).__name__,
            exc,
        )
        return 0


def schedule_probe() -> None:
    """While Fast Track is unavailable, make sure a delivery runs at the next probe time even
    if nothing commits meanwhile (the sweeper alone would wait FASTTRACK_SWEEP_SECONDS)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:  # no broker: the next commit or sweep probes
        return
    if cache.add(PROBE_SCHEDULED_KEY, 1, timeout=conf.PROBE_SECONDS):
        deliver_outbox.apply_async(countdown=conf.PROBE_SECONDS)


@shared_task(ignore_result=True)
def deliver_outbox() -> int:
    """Deliver everything due; returns the number of events delivered."""
    try:
        cache.delete(KICK_KEY)
    except Exception:  # Redis down: the flag expires by itself, and delivery does not need it
        pass
    return _deliver()


@shared_task(ignore_result=True)
def sweep_outbox() -> int:
    """Beat: recover rows of workers that died, then deliver what is due (retries after backoff)."""
    return _deliver(recover=True)
