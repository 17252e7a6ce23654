"""The market lines a consumer process read or wrote (see feeds.services.store: writer_version)."""

from __future__ import annotations

import random
from itertools import filterfalse

from feeds.services.rows import EventRow, MarketRow, Workspace


class MarketCache:
    """The market lines this process read or wrote, per event valid while the event carries the
    writer_version this process saw last (nobody else wrote its lines since)."""

    def __init__(self, max_lines: int = 300_000) -> None:
        self.max_lines = max_lines
        self.lines: dict[tuple[str, int, str], MarketRow] = {}
        self.by_event: dict[str, list[tuple[str, int, str]]] = {}  # the keys in `lines`, per event
        self.versions: dict[str, int] = {}  # event urn -> writer_version of the cached lines
        self.producers: set[int] = set()
        self.hits = self.misses = 0

    def valid_events(self, events: dict[str, EventRow]) -> set[str]:
        """The events (of a batch, rows locked) whose cached lines are still the database's.
        The cached lines of the others are dropped: someone else wrote them."""
        versions = self.versions
        # 0: no consumer has stamped the event (new, or stored before versions existed).
        valid = {urn for urn, e in events.items() if e.writer_version and versions.get(urn) == e.writer_version}
        if len(valid) < len(events):
            for urn in events.keys() - valid:
                versions.pop(urn, None)
                for key in self.by_event.pop(urn, ()):
                    self.lines.pop(key, None)
        return valid

    def commit(self, ws: Workspace) -> None:
        if len(self.lines) + len(ws.markets) > self.max_lines:
            self.lines.clear()
            self.by_event.clear()
            self.versions.clear()
        lines = self.lines
        # The batch's lines not cached yet (iterating the batch: a set difference with the
        # cache's keys would hash every cached line, up to max_lines, on every batch).
        new = list(filterfalse(lines.__contains__, ws.markets))
        for key in new:
            self.by_event.setdefault(key[0], []).append(key)
        self.lines.update(ws.markets)
        for urn, e in ws.events.items():
            self.versions[urn] = e.writer_version
        self.producers.update(ws.known_producers)

    def invalidate(self) -> None:
        self.lines.clear()
        self.by_event.clear()
        self.versions.clear()
        self.producers.clear()


CACHE = MarketCache()


def _stamp_writer(ws: Workspace) -> None:
    """A new writer_version on every event whose lines this batch changes (MarketCache)."""
    token = random.getrandbits(62) or 1
    events = ws.events
    for row in ws.markets.values():
        if row.dirty:
            event = events[row.event_urn]
            if event.writer_version != token:
                event.writer_version = token
                event.dirty = True
