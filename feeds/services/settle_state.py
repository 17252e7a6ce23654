"""The domain rules for settlements and cancels (and their rollbacks), on a batch's Workspace.

Part of feeds.services.state (its module docstring has the rules): each has its own timestamp
guard, so a rollback that overtook its settlement or cancel still wins, and every change
appends a history entry with the state before and after. Import its functions from
feeds.services.state (which imports this module at its end).
"""

from __future__ import annotations

from decimal import Decimal

from feeds.protocol import messages as m
from feeds.services.rows import CancelRow, HistoryEntry, MarketRow, Result, SettlementRow, Workspace, window_key
from feeds.services.state import APPLIED, DUPLICATE, IGNORED, STALE, _summary

# --- settlements -------------------------------------------------------------------------------


def _settlement(ws: Workspace, row: MarketRow, producer_id: int) -> SettlementRow:
    key = (row.key, producer_id)
    found = ws.settlements.get(key)
    if found is None:
        found = SettlementRow(pk=None, market=row, producer_id=producer_id)
        ws.settlements[key] = found
    return found


def _factor(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def apply_bet_settlement(ws: Workspace, msg: m.BetSettlement) -> Result:
    counts = {APPLIED: 0, DUPLICATE: 0, STALE: 0}
    for mr in msg.markets:
        row = ws.market(msg.event_urn, mr.id, mr.specifiers, create=True)
        assert row is not None
        settlement = _settlement(ws, row, msg.product)
        if msg.timestamp < settlement.message_ts:
            counts[STALE] += 1
            continue
        before = settlement.snapshot() if settlement.pk is not None or settlement.dirty else None
        outcomes = {k: dict(v) for k, v in settlement.outcomes.items()}
        for o in mr.outcomes:
            outcomes[o.id] = {
                "result": o.result,
                "void_factor": _factor(o.void_factor),
                "dead_heat_factor": _factor(o.dead_heat_factor),
            }
        unchanged = (settlement.certainty, settlement.void_reason, settlement.outcomes) == (
            msg.certainty,
            mr.void_reason,
            outcomes,
        )
        settlement.message_ts = max(settlement.message_ts, msg.timestamp)
        settlement.dirty = True
        if unchanged and before is not None:
            counts[DUPLICATE] += 1  # e.g. a recovery resend: only the timestamp guard moves
            continue
        settlement.certainty, settlement.void_reason, settlement.outcomes = msg.certainty, mr.void_reason, outcomes
        ws.record(
            HistoryEntry(row, msg.product, "settlement", msg.timestamp, before, settlement.snapshot(), ws.message_index)
        )
        counts[APPLIED] += 1
    return _summary(counts)


def apply_rollback_bet_settlement(ws: Workspace, msg: m.RollbackBetSettlement) -> Result:
    counts = {APPLIED: 0, DUPLICATE: 0, STALE: 0, IGNORED: 0}
    for ref in msg.markets:
        row = ws.market(msg.event_urn, ref.id, ref.specifiers, create=True)
        assert row is not None
        settlement = _settlement(ws, row, msg.product)
        if msg.timestamp < settlement.message_ts:
            counts[STALE] += 1
            continue
        fresh = settlement.pk is None and not settlement.dirty
        before = settlement.snapshot()
        targets = ref.outcome_ids or tuple(settlement.outcomes)
        remaining = {k: dict(v) for k, v in settlement.outcomes.items() if k not in targets}
        # Kept even when nothing was settled: its timestamp keeps an overtaken settlement out.
        settlement.message_ts = msg.timestamp
        settlement.dirty = True
        if remaining == settlement.outcomes:
            counts[IGNORED if fresh else DUPLICATE] += 1
            continue
        settlement.outcomes = remaining
        if not remaining:
            settlement.certainty = None
            settlement.void_reason = None
        ws.record(
            HistoryEntry(
                row, msg.product, "settlement_rollback", msg.timestamp, before, settlement.snapshot(), ws.message_index
            )
        )
        counts[APPLIED] += 1
    return _summary(counts)


# --- cancels -----------------------------------------------------------------------------------


def _cancel(ws: Workspace, row: MarketRow, producer_id: int, start: int | None, end: int | None) -> CancelRow:
    wkey = window_key(start, end)
    key = (row.key, producer_id, wkey)
    found = ws.cancels.get(key)
    if found is None:
        found = CancelRow(pk=None, market=row, producer_id=producer_id, window_key=wkey, start_ts=start, end_ts=end)
        ws.cancels[key] = found
    return found


def apply_bet_cancel(ws: Workspace, msg: m.BetCancel) -> Result:
    counts = {APPLIED: 0, DUPLICATE: 0, STALE: 0}
    for ref in msg.markets:
        row = ws.market(msg.event_urn, ref.id, ref.specifiers, create=True)
        assert row is not None
        cancel = _cancel(ws, row, msg.product, msg.start_time, msg.end_time)
        if cancel.rollback_ts is not None and msg.timestamp < cancel.rollback_ts and not cancel.active:
            # The rollback of this cancel is newer: it stays rolled back.
            cancel.cancel_ts = max(cancel.cancel_ts or 0, msg.timestamp)
            cancel.dirty = True
            counts[STALE] += 1
            continue
        new = (True, ref.void_reason, msg.superceded_by or "")
        if cancel.active and (cancel.active, cancel.void_reason, cancel.superceded_by) == new:
            counts[DUPLICATE] += 1
            continue
        before = cancel.snapshot() if (cancel.pk is not None or cancel.dirty) else None
        cancel.active, cancel.void_reason, cancel.superceded_by = new
        cancel.cancel_ts = msg.timestamp
        cancel.dirty = True
        ws.record(HistoryEntry(row, msg.product, "cancel", msg.timestamp, before, cancel.snapshot(), ws.message_index))
        counts[APPLIED] += 1
    return _summary(counts)


def apply_rollback_bet_cancel(ws: Workspace, msg: m.RollbackBetCancel) -> Result:
    counts = {APPLIED: 0, DUPLICATE: 0, STALE: 0, IGNORED: 0}
    for ref in msg.markets:
        row = ws.market(msg.event_urn, ref.id, ref.specifiers, create=True)
        assert row is not None
        cancel = _cancel(ws, row, msg.product, msg.start_time, msg.end_time)
        if cancel.active and cancel.cancel_ts is not None and msg.timestamp < cancel.cancel_ts:
            counts[STALE] += 1  # the cancel was re-issued after this rollback
            continue
        if not cancel.active:
            # Nothing in force for this window: remember the rollback so that an overtaken
            # cancel arriving later stays rolled back.
            fresh = cancel.pk is None and not cancel.dirty
            cancel.rollback_ts = max(cancel.rollback_ts or 0, msg.timestamp)
            cancel.dirty = True
            counts[IGNORED if fresh else DUPLICATE] += 1
            continue
        before = cancel.snapshot()
        cancel.active = False
        cancel.rollback_ts = msg.timestamp
        cancel.dirty = True
        ws.record(
            HistoryEntry(
                row, msg.product, "cancel_rollback", msg.timestamp, before, cancel.snapshot(), ws.message_index
            )
        )
        counts[APPLIED] += 1
    result = _summary(counts)
    if result.outcome == IGNORED:
        return Result(IGNORED, "no matching cancel in force (kept as a marker): " + result.reason)
    return result
