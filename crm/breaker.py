"""The Fast Track circuit breaker: an outage of the endpoint pauses delivery instead of failing rows.

When a delivery finds the endpoint unavailable (connection refused, timeout, 5xx, 408/425/429,
broker trouble) and it accepted nothing else in that round, the breaker opens: no worker claims
rows, and no row's attempt is counted, however long the outage lasts. Every
FASTTRACK_PROBE_SECONDS one worker probes (a normal delivery round, which stops after two
failures). The first accepted event closes the breaker and delivery resumes where it stopped,
in order: rows never moved, and no row waits on a per-row backoff run up during the outage.

The state lives in the cache (Redis in production), so every worker and the sweeper share it
and one probe per interval is sent deployment-wide. If the cache cannot be read the breaker
counts as closed: delivery then finds the outage itself, and rows still do not count it.
Times are the callers' `now` (tests move it), stored as epoch seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.cache import cache

from config.logthrottle import Throttled
from crm import conf

logger = logging.getLogger("touchline.crm")
throttled = Throttled(logger, interval=60.0)

STATE_KEY = "crm:outbox:breaker"
PROBE_KEY = "crm:outbox:probe"


def state() -> dict | None:
    """{"since", "probe_at", "error", "probes"} while open, else None."""
    try:
        return cache.get(STATE_KEY)
    except Exception as exc:  # the cache down: decide without it (module docstring)
        throttled.warning("breaker-cache", "fasttrack breaker: cache unavailable (%s); treating it as closed", exc)
        return None


def allows(now: datetime) -> bool:
    """May this worker claim rows now? Always while closed; while open, one worker per probe interval."""
    current = state()
    if current is None:
        return True
    if now.timestamp() < current["probe_at"]:
        return False
    try:
        return bool(cache.add(PROBE_KEY, 1, timeout=conf.PROBE_SECONDS))
    except Exception:
        return True


def trip(error: str, now: datetime) -> None:
    """The endpoint is unavailable: (re)open, next probe in FASTTRACK_PROBE_SECONDS."""
    current = state() or {"since": now.timestamp(), "probes": 0}
    current.update(probe_at=now.timestamp() + conf.PROBE_SECONDS, error=error[:500], probes=current["probes"] + 1)
    try:
        cache.set(STATE_KEY, current, timeout=None)
        cache.delete(PROBE_KEY)  # this probe is over; the next one is due at probe_at
    except Exception:  # already logged by state(); this round's rows are released anyway
        pass
    throttled.warning(
        "outage",
        "fasttrack unavailable for %.0f s (%s): delivery paused, probing every %s s; no event counts this as an attempt",
        now.timestamp() - current["since"],
        error[:200],
        conf.PROBE_SECONDS,
    )


def reset(now: datetime) -> None:
    """The endpoint accepted an event: close, and say how long it was out."""
    current = state()
    if current is None:
        return
    try:
        cache.delete_many([STATE_KEY, PROBE_KEY])
    except Exception:
        return
    logger.warning(
        "fasttrack is back after %.0f s unavailable (%s probes); delivery resumed",
        now.timestamp() - current["since"],
        current["probes"],
    )


def is_open() -> bool:
    return state() is not None
