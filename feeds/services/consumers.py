"""Partitioned consumers: which share of the feed a consumer takes, and who is running.

Several `uof_consume` processes can split the feed. Betradar's broker lets a client bind its
own server-named queue to the `unifiedfeed` exchange but not create exchanges, so the split
uses UOF's own routing keys:

- by binding: each consumer binds a different part of the key space (`--routing live` /
  `--routing prematch`, `--sport 1` / `--sport 2 --sport 5` …). The broker sends each
  consumer only its part.
- by share: `--share k/N` binds everything and applies only the events whose id hashes to
  share k (CRC-32 of the URN in the key, mod N); other events' messages are acked unparsed.
  Every consumer still receives the whole feed, so this costs network, not CPU.

System messages (alive, snapshot_complete) carry no event: every consumer applies them.

Each consumer registers a FeedConsumer row and refreshes it (a heartbeat). While one that
should run is silent, its share of the feed is missing: the health check keeps producers down
and asks no recovery until it is back (feeds.services.producers). A consumer stopped on
purpose deletes its row; a crashed one that will not come back is removed with
`uof_consume --forget NAME`.
"""

from __future__ import annotations

import os
import socket
import zlib
from datetime import datetime, timedelta

from django.utils import timezone

from feeds import conf
from feeds.models import FeedConsumer


def parse_share(text: str) -> tuple[int, int]:
    """'k/N' -> (k, N) with 0 <= k < N."""
    k, sep, n = text.partition("/")
    try:
        share, count = int(k), int(n)
    except ValueError:
        raise ValueError(f"share {text!r} is not 'k/N' (e.g. 0/2)") from None
    if not sep or count < 1 or not 0 <= share < count:
        raise ValueError(f"share {text!r}: need 0 <= k < N")
    return share, count


def event_share(routing_key: str, count: int) -> int | None:
    """The share (0..count-1) of the event a routing key names, None for system messages or a
    key without an event. Sections 6 and 7 are the URN's type and id."""
    sections = routing_key.split(".")
    if len(sections) != 8 or sections[6] == "-" or sections[5] == "-":
        return None
    return zlib.crc32(f"{sections[5]}:{sections[6]}".encode()) % count


def default_name(keys: list[str], share: str = "") -> str:
    """Stable across restarts of the same consumer (host, share, bindings), so a restart
    takes over its own registry row instead of leaving a silent one behind."""
    digest = zlib.crc32(" ".join(sorted(keys)).encode())
    return f"{socket.gethostname()}/{share or 'all'}/{digest:08x}"


def register(name: str, *, keys: list[str], share: str = "") -> None:
    now = timezone.now()
    FeedConsumer.objects.update_or_create(
        name=name,
        defaults={
            "keys": " ".join(keys)[:5000],
            "share": share,
            "host": socket.gethostname()[:200],
            "pid": os.getpid(),
            "started_at": now,
            "seen_at": now,
        },
    )


def heartbeat(name: str, *, keys: list[str], share: str = "") -> None:
    if not FeedConsumer.objects.filter(name=name).update(seen_at=timezone.now()):
        register(name, keys=keys, share=share)  # forgotten meanwhile: we are running, so count us


def deregister(name: str) -> None:
    FeedConsumer.objects.filter(name=name).delete()


def forget(name: str) -> int:
    return FeedConsumer.objects.filter(name=name).delete()[0]


def silent_consumers(now: datetime | None = None) -> list[FeedConsumer]:
    """Registered consumers without a heartbeat within UOF_CONSUMER_SILENCE_SECONDS."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=conf.CONSUMER_SILENCE_SECONDS)
    return list(FeedConsumer.objects.filter(seen_at__lt=cutoff).order_by("name"))


def live_consumers(now: datetime | None = None) -> list[str]:
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=conf.CONSUMER_SILENCE_SECONDS)
    return list(FeedConsumer.objects.filter(seen_at__gte=cutoff).order_by("name").values_list("name", flat=True))
