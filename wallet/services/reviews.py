"""The settlement review queue: what needs a human, flagged inside the transaction that found it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from wallet import conf, events
from wallet.models import Debt, IdempotencyConflict, LedgerTransaction, ReviewItem, Settlement
from wallet.permissions import reason_required, require
from wallet.services.audit import audit_record


@transaction.atomic
def review_item_resolve(*, item_id: int, actor, resolution: str) -> ReviewItem:
    require(actor, "wallet.change_reviewitem")
    item = ReviewItem.objects.select_for_update(no_key=True).get(pk=item_id)
    if item.status == ReviewItem.Status.RESOLVED:
        return item
    item.status = ReviewItem.Status.RESOLVED
    item.resolved_by = actor
    item.resolved_at = timezone.now()
    item.resolution = reason_required(resolution)
    item.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
    audit_record(actor_id=actor.pk, action="review.resolve", obj=item, reason=item.resolution)
    return item


def review_flag(*, kind: str, summary: str, **links) -> ReviewItem:
    """Put something in front of staff. Runs inside the transaction that found it."""
    return ReviewItem.objects.create(kind=kind, summary=summary[:255], **links)


def review_on_wallet_event(event: events.WalletEvent) -> None:
    """Wallet event subscriber: settlements that need a human go to the review queue."""
    if event.settlement_id is None or event.bet_id is None:
        if event.kind == events.TRANSACTION_REVERSED and event.transaction_ids:
            reversal = LedgerTransaction.objects.select_related("reverses").get(pk=event.transaction_ids[-1])
            if reversal.reverses and reversal.reverses.kind == LedgerTransaction.Kind.PAYOUT:
                review_flag(
                    kind=ReviewItem.Kind.PAID_WIN_ROLLBACK,
                    player_id=event.player_id,
                    summary=f"{event.provider} rolled back paid result {reversal.reverses.external_id}",
                )
        return
    if event.kind not in (events.BET_SETTLED, events.BET_RESETTLED, events.BET_UNSETTLED, events.BET_ROLLED_BACK):
        return
    if event.amount is not None and event.previous_amount is not None and not _may_flag(event):
        return  # the common case on the callback hot path: nothing for staff, no query
    step = Settlement.objects.select_related("bet").get(pk=event.settlement_id)
    bet = step.bet
    links = {"player_id": event.player_id, "bet_id": event.bet_id, "settlement_id": step.pk}
    label = f"{bet.provider} bet {bet.external_id} ({bet.currency})"
    if event.kind in (events.BET_SETTLED, events.BET_RESETTLED) and step.amount >= conf.REVIEW_LARGE_WIN_AMOUNT:
        review_flag(kind=ReviewItem.Kind.LARGE_WIN, summary=f"{label} pays {step.amount}", **links)
    if event.kind == events.BET_RESETTLED and step.amount != step.previous_amount:
        review_flag(
            kind=ReviewItem.Kind.RESETTLE,
            summary=f"{label} re-settled {step.previous_amount} -> {step.amount}",
            **links,
        )
    elif event.kind == events.BET_UNSETTLED:
        review_flag(kind=ReviewItem.Kind.UNSETTLE, summary=f"{label} unsettled (was {step.previous_amount})", **links)
    elif event.kind == events.BET_ROLLED_BACK and step.previous_amount > 0:
        review_flag(
            kind=ReviewItem.Kind.PAID_WIN_ROLLBACK,
            summary=f"{label} rolled back after paying {step.previous_amount}",
            **links,
        )


def _may_flag(event: events.WalletEvent) -> bool:
    """Whether a step with these amounts can need a human (the rules below, from the event)."""
    amount, previous = event.amount, event.previous_amount
    if event.kind == events.BET_SETTLED:
        return amount >= conf.REVIEW_LARGE_WIN_AMOUNT
    if event.kind == events.BET_RESETTLED:
        return amount >= conf.REVIEW_LARGE_WIN_AMOUNT or amount != previous
    if event.kind == events.BET_ROLLED_BACK:
        return previous > 0
    return True  # an unsettle is always reviewed


def review_on_debt(debt: Debt) -> None:
    review_flag(
        kind=ReviewItem.Kind.DEBT,
        player_id=debt.player_id,
        debt_id=debt.pk,
        summary=f"player owes {debt.amount} {debt.currency} after a forced correction",
    )


def review_on_conflict(conflict: IdempotencyConflict) -> None:
    review_flag(
        kind=ReviewItem.Kind.IDEMPOTENCY_CONFLICT,
        conflict_id=conflict.pk,
        summary=f"{conflict.provider} {conflict.operation} {conflict.external_id} reused with different content",
    )
