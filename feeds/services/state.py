"""The feed's domain rules, applied to in-memory rows of one batch (no database here).

feeds.services.store loads the rows a batch needs, these functions change them in message
order, and the store writes back the rows marked dirty, all in one transaction. The same code
runs under the AMQP consumer, replays, the simulator's direct mode and the tests.

Rules (docs/uof.md has the reasoning):
- A market line is (event, market id, canonical specifiers). An odds_change or bet_stop older
  than the newest one applied to a line (`last_ts`) is ignored; an equal timestamp is applied
  (producers emit several messages per millisecond), which makes redelivery a no-op.
- A late 'handed over' (-2) from a producer that no longer owns the line is ignored.
- bet_stop only touches active lines last priced by the same producer.
- Settlements are kept per producer; cancels per (producer, window). Each has its own
  timestamp guard, so a rollback that overtook its settlement/cancel still wins.
- Every settlement/cancel change appends a history entry with the state before and after.
"""

from __future__ import annotations

import json
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from feeds.models import Producer, ms_to_datetime
from feeds.protocol import messages as m
from feeds.protocol.odds import Listed
from feeds.services.rows import MarketRow, Result, Workspace

APPLIED, DUPLICATE, STALE, IGNORED = "applied", "duplicate", "stale", "ignored"

# --- producers -------------------------------------------------------------------------------


def producer_set_status(producer: Producer, status: str, reason: str, now: datetime) -> None:
    if producer.status != status:
        producer.status_changed_at = now
    producer.status = status
    producer.status_reason = reason[:200]


def apply_alive(ws: Workspace, msg: m.Alive) -> Result:
    producer = ws.producers[msg.product]
    if producer.last_alive_ts is not None and msg.timestamp < producer.last_alive_ts:
        return Result(STALE, "older than the last alive")
    producer.last_alive_ts = msg.timestamp
    producer.last_alive_at = ws.now
    producer.subscribed = msg.subscribed
    if producer.status == Producer.Status.UP:
        if msg.subscribed:
            producer.recover_after_ts = msg.timestamp
        else:
            producer_set_status(producer, Producer.Status.DOWN, "alive with subscribed=0", ws.now)
            ws.recovery_check = True
    elif producer.status == Producer.Status.DOWN:
        # Alives have resumed: the health check may now request a recovery.
        ws.recovery_check = True
    ws.dirty_producers.add(producer.pk)
    return Result(APPLIED, f"subscribed={int(msg.subscribed)} producer {producer.status}")


def apply_snapshot_complete(ws: Workspace, msg: m.SnapshotComplete) -> Result:
    producer = ws.producers[msg.product]
    ws.completed_requests.add(msg.request_id)
    if producer.status == Producer.Status.RECOVERING and producer.recovery_id == msg.request_id:
        request = ws.recoveries.get(msg.request_id)
        if ws.consumer and request is not None:
            # Each consumer applies its share of the recovery before this message (one queue,
            # in order): the producer is up when every running consumer got here.
            if ws.consumer not in request.snapshot_by:
                request.snapshot_by = [*request.snapshot_by, ws.consumer]
                ws.dirty_recoveries.add(request.pk)
            waiting = sorted(set(ws.live_consumers) - set(request.snapshot_by))
            if waiting:
                ws.completed_requests.discard(msg.request_id)
                return Result(APPLIED, f"snapshot complete for {ws.consumer}; waiting for {', '.join(waiting)}")
        producer_set_status(producer, Producer.Status.UP, f"recovery {msg.request_id} complete", ws.now)
        producer.recovery_id = None
        ws.dirty_producers.add(producer.pk)
        return Result(APPLIED, f"producer {producer.pk} up")
    return Result(IGNORED, f"request_id {msg.request_id} is not producer {producer.pk}'s recovery in flight")


# --- odds ------------------------------------------------------------------------------------


_JSON_KEYS: dict[str, str] = {}  # outcome id -> its JSON object key with the colon: '"1":'


def _json_key(oid: str) -> str:
    key = encode_basestring(oid) + ":"
    if len(_JSON_KEYS) > 10_000:
        _JSON_KEYS.clear()
    _JSON_KEYS[oid] = key
    return key


def _lists_all(row: MarketRow, previous: dict[str, Any] | None, listed: Listed) -> bool:
    """Whether `listed` names every outcome the line has now (none to keep as inactive)."""
    if previous is None:
        source = row.source
        if type(source) is Listed:
            return source.ids == listed.ids or set(source.ids) <= set(listed.ids)
        previous = row.outcomes
    return not previous or previous.keys() <= set(listed.ids)


def _apply_market_odds(ws: Workspace, msg: m.OddsChange, mo: m.MarketOdds) -> str:
    # Runs once per market of every odds_change: the market unpacked once, lookups and the
    # outcome states inlined (each attribute read or call here costs ~1% of the consumer).
    market_id, specifiers, status, listed, extended, favourite, cashout_status, next_betstop = mo
    timestamp = msg.timestamp
    product = msg.product
    row = ws.markets.get((msg.event_urn, market_id, specifiers))
    if row is None:
        row = ws.market(msg.event_urn, market_id, specifiers, create=True)
        assert row is not None
    else:
        if timestamp < row.last_ts:
            return STALE
        if status == m.HANDED_OVER and row.producer_id is not None and row.producer_id != product:
            return IGNORED  # a late hand-over: the new producer already owns the line
    previous = row._outcomes  # None: only row.outcomes_json has them
    outcomes: dict[str, dict[str, Any]] | None = None
    new_json = None
    if not listed:
        unchanged = True
        odds_ts = row.odds_ts
    elif listed == row.source:
        # Unchanged since this line's last odds: the same states (and JSON); the odds were
        # confirmed at this message's time. (Equal values: '1.50' after '1.5' keeps '1.5'.)
        unchanged = True
        odds_ts = timestamp
    elif type(listed) is Listed and (
        (previous is None and type(row.source) is Listed and row.source.ids == listed.ids)  # as the inline one
        or previous == {}  # a new line
        or _lists_all(row, previous, listed)
    ):
        # Read by the fast path with its JSON text, and no outcome left out: the text is the
        # state; the dicts are built from it only if something reads them.
        unchanged = False
        new_json = listed.json
        odds_ts = timestamp
    else:
        # A listed market carries all its current outcomes; ones no longer listed are kept
        # (never delete) but cannot be bet on.
        unchanged = False
        previous = row.outcomes
        outcomes = {}
        # The JSON text of the usual outcome (odds and probability, no team) is built here
        # with the dict: str(Decimal) needs no escaping, and the ids' encodings are cached.
        # Same text as json.dumps(outcomes, separators=(",", ":"), ensure_ascii=False).
        parts: list[str] | None = []
        json_key = _JSON_KEYS.get
        for oid, odds, probability, active, team in listed:
            if probability is None or odds is None or team is not None:
                state: dict[str, Any] = {"odds": None if odds is None else str(odds), "active": active}
                if probability is not None:
                    state["prob"] = str(probability)
                if team is not None:
                    state["team"] = team
                parts = None
            else:
                text = str(odds)
                prob = str(probability)
                state = {"odds": text, "active": active, "prob": prob}
                if parts is not None:
                    key = json_key(oid) or _json_key(oid)
                    if active is True:
                        parts.append(f'{key}{{"odds":"{text}","active":true,"prob":"{prob}"}}')
                    elif active is False:
                        parts.append(f'{key}{{"odds":"{text}","active":false,"prob":"{prob}"}}')
                    else:
                        parts = None
            outcomes[oid] = state
        if len(outcomes) < len(previous) or not outcomes.keys() >= previous.keys():
            parts = None
            for oid, state in previous.items():
                if oid not in outcomes:
                    outcomes[oid] = {**state, "active": False}
        # Only when every outcome went into `parts` once (a repeated id keeps one dict entry).
        if parts is not None and len(parts) == len(outcomes):
            new_json = "{" + ",".join(parts) + "}"
        odds_ts = timestamp
    if (
        row.pk is not None
        and row.last_ts == timestamp
        and row.status == status
        and row.producer_id == product
        and row.odds_ts == odds_ts
        and row.extended_specifiers == extended
        and row.favourite == favourite
        and row.cashout_status == cashout_status
        and row.next_betstop == next_betstop
        and (unchanged or row.outcomes == (json.loads(new_json) if outcomes is None else outcomes))
    ):
        return DUPLICATE
    if not unchanged:
        row._outcomes = outcomes
        row.outcomes_json = new_json
        row.source = listed
    row.status = status
    row.producer_id = product
    row.extended_specifiers = extended
    row.favourite = favourite
    row.cashout_status = cashout_status
    row.next_betstop = next_betstop
    row.odds_ts = odds_ts
    row.last_ts = timestamp
    row.dirty = True
    return APPLIED


def _suspend_event(
    ws: Workspace, event_urn: str, product: int, timestamp: int, status: int, groups: set[str] | None
) -> tuple[int, int]:
    """Move the event's active lines owned by `product` to `status`; returns (changed, stale)."""
    changed = stale = 0
    for row in ws.lines_of(event_urn):
        if row.status != m.ACTIVE or row.producer_id != product:
            continue
        if groups is not None:
            market_groups = ws.groups_of(row.market_id)
            # Unknown description: stop it anyway (stopping too much is safe, too little is not).
            if market_groups is not None and not (market_groups & groups):
                continue
        if timestamp < row.last_ts:
            stale += 1
            continue
        row.status = status
        row.last_ts = timestamp
        row.dirty = True
        changed += 1
    return changed, stale


def _summary(counts: dict[str, int], what: str = "markets") -> Result:
    applied = counts.get(APPLIED, 0)
    if applied and applied == sum(counts.values()):  # the usual: the same text, no generator
        return Result(APPLIED, f"{applied} {what}: {applied} applied")
    total = sum(counts.values())
    parts = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    reason = f"{total} {what}: {parts}" if total else f"no {what}"
    for outcome in (APPLIED, DUPLICATE, STALE, IGNORED):
        if counts.get(outcome):
            return Result(outcome, reason)
    return Result(IGNORED, reason)


def apply_odds_change(ws: Workspace, msg: m.OddsChange, sport_id: int | None = None) -> Result:
    event = ws.events[msg.event_urn]
    counts = {APPLIED: 0, DUPLICATE: 0, STALE: 0, IGNORED: 0}
    if sport_id is not None and event.sport_id is None:
        event.sport_id = sport_id
        event.dirty = True
    status = msg.sport_event_status
    if status is not None:
        if msg.timestamp < event.status_ts:
            counts[STALE] += 1
        else:
            new = (status.status, status.match_status, status.home_score or "", status.away_score or "", status.data)
            old = (event.status, event.match_status, event.home_score, event.away_score, event.status_data)
            if new != old or msg.timestamp != event.status_ts:
                event.status, event.match_status, event.home_score, event.away_score, event.status_data = new
                event.status_ts = msg.timestamp
                event.dirty = True
                counts[APPLIED] += 1
            else:
                counts[DUPLICATE] += 1
    if msg.has_odds and msg.timestamp >= event.odds_ts:
        if (event.betting_status, event.betstop_reason, event.odds_ts) != (
            msg.betting_status,
            msg.betstop_reason,
            msg.timestamp,
        ):
            event.betting_status, event.betstop_reason = msg.betting_status, msg.betstop_reason
            event.odds_ts = msg.timestamp
            event.dirty = True
    if msg.has_odds and not msg.markets and msg.betstop_reason is not None:
        # An odds_change that names a bet-stop reason and no markets stops the whole event.
        changed, stale = _suspend_event(ws, msg.event_urn, msg.product, msg.timestamp, m.SUSPENDED, None)
        counts[APPLIED] += changed
        counts[STALE] += stale
    # The usual market inlined (per market, a call and the general checks cost about as much as
    # the work): a known line, newer than its last odds, not handed over, read by the fast path
    # and naming the same outcomes as the line's last source (its text is the state). Exactly
    # what _apply_market_odds does for it; everything else goes there.
    markets = ws.markets
    urn, timestamp, product = msg.event_urn, msg.timestamp, msg.product
    applied = 0
    for mo in msg.markets:
        # (unpacked once: indexing a named tuple is a generic subscript, not a specialised one)
        market_id, specifiers, status, listed, extended, favourite, cashout_status, next_betstop = mo
        row = markets.get((urn, market_id, specifiers))
        if (
            row is not None
            and type(listed) is Listed
            and timestamp > row.last_ts
            and status != m.HANDED_OVER
            and row._outcomes is None
            and type(row.source) is Listed
            and row.source.ids is listed.ids  # (one tuple for the same ids: fastodds._IDS)
            and listed != row.source  # (equal: unchanged, the line keeps its states)
        ):
            row.outcomes_json = listed.json
            row.source = listed
            row.status = status
            row.producer_id = product
            row.extended_specifiers = extended
            row.favourite = favourite
            row.cashout_status = cashout_status
            row.next_betstop = next_betstop
            row.odds_ts = timestamp
            row.last_ts = timestamp
            row.dirty = True
            applied += 1
        else:
            counts[_apply_market_odds(ws, msg, mo)] += 1
    counts[APPLIED] += applied
    result = _summary(counts, "changes")
    if not msg.markets and status is None and result.outcome == IGNORED:
        return Result(IGNORED, "no status and no markets")
    return result


def apply_bet_stop(ws: Workspace, msg: m.BetStop) -> Result:
    groups = None if "all" in msg.groups else set(msg.groups)
    status = m.SUSPENDED if msg.market_status is None else msg.market_status
    changed, stale = _suspend_event(ws, msg.event_urn, msg.product, msg.timestamp, status, groups)
    if changed:
        return Result(APPLIED, f"{changed} markets -> {status}" + (f", {stale} stale" if stale else ""))
    if stale:
        return Result(STALE, f"{stale} markets newer than the bet_stop")
    return Result(DUPLICATE, "no active market of this producer matched")


# --- fixtures ----------------------------------------------------------------------------------


def apply_fixture_change(ws: Workspace, msg: m.FixtureChange, sport_id: int | None = None) -> Result:
    event = ws.events[msg.event_urn]
    if sport_id is not None and event.sport_id is None:
        event.sport_id = sport_id
        event.dirty = True
    if event.fixture_change_ts is not None and msg.timestamp < event.fixture_change_ts:
        return Result(STALE, "older than the last fixture_change")
    if event.fixture_change_ts == msg.timestamp and event.fixture_change_type == msg.change_type:
        return Result(DUPLICATE, "fixture_change already applied")
    event.fixture_change_ts = msg.timestamp
    event.fixture_change_type = msg.change_type
    if msg.start_time is not None:
        event.scheduled = ms_to_datetime(msg.start_time)
    event.fixture_needed = True  # always re-fetch the fixture after a change
    event.dirty = True
    return Result(APPLIED, f"change_type={msg.change_type}; fixture will be re-fetched")


def apply_message(ws: Workspace, msg: m.Message, *, sport_id: int | None = None) -> Result:
    """Apply one parsed message to the workspace (producer rows must be loaded for its product)."""
    request_id = getattr(msg, "request_id", None)
    if request_id is not None:
        ws.recovery_activity.add(request_id)
    if isinstance(msg, m.OddsChange):
        return apply_odds_change(ws, msg, sport_id)
    if sport_id is not None and msg.event_urn:
        # The sport id is only in the routing key: any event message may be the first to bring it.
        event = ws.events.get(msg.event_urn)
        if event is not None and event.sport_id is None:
            event.sport_id = sport_id
            event.dirty = True
    if isinstance(msg, m.BetStop):
        return apply_bet_stop(ws, msg)
    if isinstance(msg, m.BetSettlement):
        return apply_bet_settlement(ws, msg)
    if isinstance(msg, m.RollbackBetSettlement):
        return apply_rollback_bet_settlement(ws, msg)
    if isinstance(msg, m.BetCancel):
        return apply_bet_cancel(ws, msg)
    if isinstance(msg, m.RollbackBetCancel):
        return apply_rollback_bet_cancel(ws, msg)
    if isinstance(msg, m.FixtureChange):
        return apply_fixture_change(ws, msg, sport_id)
    if isinstance(msg, m.Alive):
        return apply_alive(ws, msg)
    if isinstance(msg, m.SnapshotComplete):
        return apply_snapshot_complete(ws, msg)
    raise TypeError(f"not a feed message: {type(msg).__name__}")


# Settlements and cancels live in their own module; imported last because it builds on the rows
# and helpers above. apply_message finds them here (tests patch them here).
from feeds.services.settle_state import (  # noqa: E402
    apply_bet_cancel,
    apply_bet_settlement,
    apply_rollback_bet_cancel,
    apply_rollback_bet_settlement,
)
