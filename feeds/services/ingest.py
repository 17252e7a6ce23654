"""Apply a batch of raw feed messages: parse, apply to state, journal, in one transaction.

The transports (AMQP consumer, replay command, simulator direct mode) hand raw bodies with
their routing keys to `apply_batch` and act on its result (ack, trigger recovery/fixture
tasks). Parsing happens before the transaction. A message that cannot be parsed is journalled
as rejected with the reason and never stops the batch. If applying the batch raises (a bug, or
a constraint the domain did not foresee), the transaction is rolled back and the batch is
applied again one message per transaction, so one bad message is journalled as failed and the
others still land.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from feeds import conf
from feeds.models import FeedMessage
from feeds.protocol import messages as m
from feeds.protocol.errors import UofError
from feeds.protocol.routing import parse_routing_key
from feeds.services import descriptions, rows, state, store

logger = logging.getLogger("touchline.feeds.ingest")


@dataclass(frozen=True, slots=True)
class Incoming:
    body: bytes
    routing_key: str = ""
    received_at: datetime | None = None
    source: str = FeedMessage.Source.AMQP
    replay_of: int | None = None


@dataclass(slots=True)
class Outcome:
    outcome: str
    reason: str
    kind: str = ""
    journal_id: int | None = None
    message_ts: int | None = None  # the producer's timestamp (lag = commit time - this)


@dataclass(slots=True)
class BatchResult:
    outcomes: list[Outcome] = field(default_factory=list)
    recovery_check: bool = False  # a producer needs the health check (alive while down…)
    fixtures_needed: bool = False  # new events or fixture changes: fetch fixtures
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    def merge(self, other: BatchResult) -> None:
        self.outcomes.extend(other.outcomes)
        self.recovery_check |= other.recovery_check
        self.fixtures_needed |= other.fixtures_needed


@dataclass(slots=True)
class Parsed:
    item: Incoming
    message: m.Message | None
    sport_id: int | None
    error: str = ""


_SPORTS: dict[str, int | None] = {}  # routing key -> sport id: the same keys come back all day


def _sport_id(routing_key: str) -> int | None:
    sport_id = _SPORTS.get(routing_key, -1)
    if sport_id != -1:
        return sport_id
    try:
        sport_id = parse_routing_key(routing_key).sport_id
    except UofError:
        sport_id = None  # the key is informational: we dispatch on the XML root
    if len(_SPORTS) > 100_000:
        _SPORTS.clear()
    _SPORTS[routing_key] = sport_id
    return sport_id


def _parse(item: Incoming) -> Parsed:
    sport_id = _sport_id(item.routing_key) if item.routing_key else None
    try:
        return Parsed(item, m.parse_message(item.body, max_bytes=conf.MAX_MESSAGE_BYTES), sport_id)
    except UofError as exc:
        return Parsed(item, None, sport_id, exc.reason)
    except Exception as exc:  # a parser bug must not stop the consumer either
        logger.exception("parser crashed on a message")
        return Parsed(item, None, sport_id, f"parser_error: {exc.__class__.__name__}: {exc}")


def _journal_row(p: Parsed, outcome: str, reason: str, now: datetime) -> store.JournalRow:
    msg = p.message
    item = p.item
    keep_body = conf.JOURNAL_BODIES == "all" or outcome not in (state.APPLIED, state.DUPLICATE)
    if msg is None:
        kind, product, event_urn, message_ts, request_id = "", None, "", None, None
    else:
        kind = getattr(msg, "kind", "")
        product = msg.product
        event_urn = msg.event_urn or ""
        message_ts = msg.timestamp
        request_id = getattr(msg, "request_id", None)
    return store.JournalRow(
        routing_key=item.routing_key[:255],
        kind=kind,
        product=product,
        event_urn=event_urn,
        message_ts=message_ts,
        request_id=request_id,
        body=item.body if keep_body else b"",
        body_size=len(item.body),
        source=item.source,
        received_at=item.received_at or now,
        applied_at=now if outcome in _APPLIED_OUTCOMES else None,
        outcome=outcome,
        reason=reason[:2000],
        replay_of_id=item.replay_of,
    )


_APPLIED_OUTCOMES = frozenset((state.APPLIED, state.DUPLICATE, state.STALE, state.IGNORED))


def _apply(parsed: Sequence[Parsed], *, use_cache: bool = True, consumer: str = "") -> BatchResult:
    """One transaction for the whole list. Raises if anything fails (nothing is written then)."""
    now = timezone.now()
    result = BatchResult()
    journal: list[store.JournalRow] = []
    try:
        with transaction.atomic():
            # No global lock: store.load locks the batch's events and producers (see store.py).
            cache = store.CACHE if use_cache else None
            ws = rows.Workspace(now=now, groups=descriptions.market_groups, cache=cache)
            ws.consumer = consumer
            store.load(ws, [p.message for p in parsed if p.message is not None])
            new_events = {urn for urn, e in ws.events.items() if e.fixture_needed}
            for index, p in enumerate(parsed):
                ws.message_index = index
                if p.message is None:
                    outcome = rows.Result(FeedMessage.Outcome.REJECTED, p.error)
                else:
                    outcome = state.apply_message(ws, p.message, sport_id=p.sport_id)
                journal.append(_journal_row(p, outcome.outcome, outcome.reason, now))
                result.outcomes.append(
                    Outcome(outcome.outcome, outcome.reason, journal[-1].kind, None, journal[-1].message_ts)
                )
            store.flush(ws, journal)
            if cache is not None:
                cache.commit(ws)
            result.recovery_check = ws.recovery_check
            result.fixtures_needed = bool(new_events) or any(e.fixture_needed and e.dirty for e in ws.events.values())
    except BaseException:
        # The in-memory lines were changed by a transaction that did not commit.
        store.CACHE.invalidate()
        raise
    for o, row in zip(result.outcomes, journal, strict=True):
        o.journal_id = row.pk
    return result


def _record_failure(p: Parsed, reason: str) -> Outcome:
    now = timezone.now()
    with transaction.atomic():
        row = _journal_row(p, FeedMessage.Outcome.FAILED, reason, now).to_model()
        row.save()
    return Outcome(FeedMessage.Outcome.FAILED, reason, row.kind, row.pk)


def parse_batch(items: Sequence[Incoming]) -> list[Parsed]:
    """Parse raw messages (pure CPU, no database): the consumer does this on its AMQP thread
    while the previous batch is being written."""
    return [_parse(item) for item in items]


def apply_parsed(parsed: Sequence[Parsed], *, consumer: str = "") -> BatchResult:
    """Apply parsed messages in order; every one ends up in the journal with its outcome.

    Raises only on database unavailability (OperationalError and friends), so the caller can
    keep the messages unacked and retry. `consumer`: the registered partition consumer applying
    them (a recovery completes when every running consumer has applied its snapshot_complete).
    """
    started = time.perf_counter()
    try:
        result = _apply(parsed, consumer=consumer)
    except Exception as exc:
        if not _is_data_error(exc):
            raise
        logger.warning("batch of %d failed (%s); applying one by one", len(parsed), exc)
        result = BatchResult()
        for p in parsed:
            try:
                result.merge(_apply([p], consumer=consumer))
            except Exception as single:
                if not _is_data_error(single):
                    raise
                logger.exception("message failed to apply")
                result.outcomes.append(_record_failure(p, f"{single.__class__.__name__}: {single}"))
    result.seconds = time.perf_counter() - started
    return result


def apply_batch(items: Sequence[Incoming]) -> BatchResult:
    """Parse and apply raw messages (see apply_parsed)."""
    started = time.perf_counter()
    result = apply_parsed(parse_batch(items))
    result.seconds = time.perf_counter() - started
    return result


def _is_data_error(exc: BaseException) -> bool:
    """True for errors caused by a message's content; False when the database itself is gone."""
    return not isinstance(exc, OperationalError | InterfaceError)


def apply_raw(body: bytes, routing_key: str = "", *, source: str = FeedMessage.Source.SIMULATOR) -> Outcome:
    """Apply one message (tests, admin tools)."""
    return apply_batch([Incoming(body=body, routing_key=routing_key, source=source)]).outcomes[0]
