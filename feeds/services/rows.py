"""The in-memory rows of one feed batch: what feeds.services.store loads, feeds.services.state
changes in message order and the store writes back (the rows marked dirty), keyed by
`Workspace` for the domain functions. Slotted classes: the apply reads and writes their fields
once per market line of every message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feeds.models import Producer
from feeds.protocol import messages as m

MarketKey = tuple[str, int, str]  # (event urn, market id, specifiers)


@dataclass(slots=True)
class EventRow:
    pk: int
    urn: str
    sport_id: int | None = None
    status: int | None = None
    match_status: int | None = None
    home_score: str = ""
    away_score: str = ""
    status_data: dict[str, Any] = field(default_factory=dict)
    status_ts: int = 0
    betting_status: int | None = None
    betstop_reason: int | None = None
    odds_ts: int = 0
    fixture_change_ts: int | None = None
    fixture_change_type: int | None = None
    scheduled: datetime | None = None
    fixture_needed: bool = False
    writer_version: int = 0
    dirty: bool = False


@dataclass(slots=True)
class MarketRow:
    pk: int | None
    event_pk: int
    event_urn: str
    market_id: int
    specifiers: str
    extended_specifiers: str = ""
    status: int = m.INACTIVE
    producer_id: int | None = None
    # The outcome states (`outcomes`); None while only `outcomes_json` has them (a market read
    # by the fast path: the dicts are built from the text when something reads them).
    _outcomes: dict[str, dict[str, Any]] | None = field(default_factory=dict)
    favourite: bool = False
    cashout_status: int | None = None
    next_betstop: int | None = None
    odds_ts: int = 0
    last_ts: int = 0
    dirty: bool = False
    # `outcomes` as the JSON text the store writes, when _apply_market_odds built both
    # together or took the fast path's text (None: the store encodes `outcomes`). Set and
    # cleared with `outcomes` (the setter clears it).
    outcomes_json: str | None = None
    # The parsed outcomes `outcomes` was built from (None when read from the database): a
    # market re-sent unchanged (a whole-event odds_change, a recovery) is recognised by one
    # tuple comparison and keeps its outcome states and JSON.
    source: tuple | None = None

    @property
    def key(self) -> MarketKey:
        return (self.event_urn, self.market_id, self.specifiers)

    @property
    def outcomes(self) -> dict[str, dict[str, Any]]:
        outcomes = self._outcomes
        if outcomes is None:
            outcomes = self._outcomes = json.loads(self.outcomes_json)  # type: ignore[arg-type]
        return outcomes

    @outcomes.setter
    def outcomes(self, value: dict[str, dict[str, Any]]) -> None:
        self._outcomes = value
        self.outcomes_json = None


@dataclass(slots=True)
class SettlementRow:
    pk: int | None
    market: MarketRow
    producer_id: int
    certainty: int | None = None
    void_reason: int | None = None
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    message_ts: int = 0
    dirty: bool = False

    def snapshot(self) -> dict[str, Any]:
        return {
            "certainty": self.certainty,
            "void_reason": self.void_reason,
            "outcomes": {k: dict(v) for k, v in self.outcomes.items()},
            "message_ts": self.message_ts,
        }


@dataclass(slots=True)
class CancelRow:
    pk: int | None
    market: MarketRow
    producer_id: int
    window_key: str
    start_ts: int | None = None
    end_ts: int | None = None
    void_reason: int | None = None
    superceded_by: str = ""
    active: bool = False
    cancel_ts: int | None = None
    rollback_ts: int | None = None
    dirty: bool = False

    def snapshot(self) -> dict[str, Any]:
        return {
            "window": [self.start_ts, self.end_ts],
            "void_reason": self.void_reason,
            "superceded_by": self.superceded_by,
            "active": self.active,
            "cancel_ts": self.cancel_ts,
            "rollback_ts": self.rollback_ts,
        }


@dataclass(slots=True)
class HistoryEntry:
    market: MarketRow
    producer_id: int
    kind: str
    message_ts: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    message_index: int


@dataclass(slots=True)
class Result:
    """What became of one message: the journal outcome and a short reason."""

    outcome: str
    reason: str = ""


def window_key(start: int | None, end: int | None) -> str:
    return f"{'' if start is None else start}-{'' if end is None else end}"


class Workspace:
    """The rows one batch reads and writes, keyed for the domain functions below."""

    def __init__(
        self,
        *,
        now: datetime,
        groups: Callable[[int], frozenset[str] | None] | None = None,
        cache: Any = None,
    ) -> None:
        self.now = now
        self.cache = cache  # feeds.services.store.MarketCache, or None to read every line
        self.known_producers: set[int] = set()
        self.events: dict[str, EventRow] = {}
        self.markets: dict[MarketKey, MarketRow] = {}
        # The lines per event, indexed on first use (bet stops; most batches never ask):
        # feeds.services.store.load fills `markets` directly.
        self._by_event: dict[str, list[MarketRow]] | None = None
        self.settlements: dict[tuple[MarketKey, int], SettlementRow] = {}
        self.cancels: dict[tuple[MarketKey, int, str], CancelRow] = {}
        self.producers: dict[int, Producer] = {}
        self.dirty_producers: set[int] = set()
        self.history: list[HistoryEntry] = []
        self.recovery_activity: set[int] = set()
        self.completed_requests: set[int] = set()
        # Partitioned consumers: who applies this batch ('' outside a registered consumer), the
        # consumers running now, and the recoveries whose snapshot_complete is in the batch.
        self.consumer = ""
        self.live_consumers: list[str] = []
        self.recoveries: dict[int, Any] = {}  # RecoveryRequest rows, locked
        self.dirty_recoveries: set[int] = set()
        self.recovery_check = False  # a down producer sent an alive: a recovery can be requested
        self.message_index = 0
        self._groups = groups

    # --- lookups ----------------------------------------------------------------------------

    def add_market(self, row: MarketRow) -> None:
        self.markets[row.key] = row
        if self._by_event is not None:
            self._by_event.setdefault(row.event_urn, []).append(row)

    def lines_of(self, event_urn: str) -> list[MarketRow]:
        """The batch's lines of this event, in the order they were added."""
        index = self._by_event
        if index is None:
            index = self._by_event = {}
            for row in self.markets.values():
                index.setdefault(row.event_urn, []).append(row)
        return index.get(event_urn, [])

    def market(self, event_urn: str, market_id: int, specifiers: str, *, create: bool) -> MarketRow | None:
        row = self.markets.get((event_urn, market_id, specifiers))
        if row is None and create:
            row = MarketRow(
                pk=None,
                event_pk=self.events[event_urn].pk,
                event_urn=event_urn,
                market_id=market_id,
                specifiers=specifiers,
                dirty=True,  # a line first named by a settlement or cancel is stored as inactive
            )
            self.add_market(row)
        return row

    def groups_of(self, market_id: int) -> frozenset[str] | None:
        return self._groups(market_id) if self._groups else None

    def record(self, entry: HistoryEntry) -> None:
        self.history.append(entry)
