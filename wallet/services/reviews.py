"""The settlement review queue: what needs a human, flagged inside the transaction that found it."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from wallet import conf, events
from wallet.errors import InvalidRequest
from wallet.models import Debt, IdempotencyConflict, LedgerTransaction, ReviewItem, Settlement
from wallet.money import format_money
from wallet.permissions import audited_refusals, reason_required, require
from wallet.services.audit import audit_record

AUTO_CLOSED = "closed automatically: a later settle restored the payout the unsettle took back"


def review_item_resolve(*, item_id: int, actor, resolution: str) -> ReviewItem:
    return review_items_resolve(item_ids=[item_id], actor=actor, resolution=resolution)[0]


@audited_refusals("review.resolve")
@transaction.atomic
def review_items_resolve(*, item_ids: list[int], actor, resolution: str) -> list[ReviewItem]:
    """Resolve several items with one note (bulk triage); items already resolved are left as they are."""
    require(actor, "wallet.change_reviewitem")
    resolution = reason_required(resolution)
    items = list(ReviewItem.objects.select_for_update(no_key=True).filter(pk__in=item_ids).order_by("id"))
    if len(items) != len(set(item_ids)):
        raise InvalidRequest("some review items do not exist")
    now = timezone.now()
    for item in items:
        if item.status == ReviewItem.Status.RESOLVED:
            continue
        item.status = ReviewItem.Status.RESOLVED
        item.resolved_by = actor
        item.resolved_at = now
        item.resolution = resolution
        item.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
        audit_record(actor_id=actor.pk, action="review.resolve", obj=item, reason=resolution)
    return items


@audited_refusals("review.assign")
@transaction.atomic
def review_items_assign(*, item_ids: list[int], actor, assignee=None) -> int:
    """Take items (assignee defaults to the actor). Returns how many open items changed hands."""
    require(actor, "wallet.change_reviewitem")
    assignee = assignee or actor
    items = ReviewItem.objects.filter(pk__in=item_ids, status=ReviewItem.Status.OPEN).exclude(assignee=assignee)
    changed = 0
    for item in items.select_for_update(no_key=True).order_by("id"):
        audit_record(
            actor_id=actor.pk,
            action="review.assign",
            obj=item,
            data={"from": item.assignee_id, "to": assignee.pk},
        )
        item.assignee = assignee
        item.save(update_fields=["assignee"])
        changed += 1
    return changed


def review_flag(*, kind: str, summary: str, **links) -> ReviewItem:
    """Put something in front of staff. Runs inside the transaction that found it.

    `provider`, `currency` and `amount` are filled from the settlement step when the caller
    does not give them, so the queue can sort and filter on them without joins."""
    if links.get("settlement_id") and "currency" not in links:
        row = (
            Settlement.objects.filter(pk=links["settlement_id"])
            .values("amount", "bet__provider", "bet__currency")
            .first()
        )
        if row:
            links.setdefault("amount", row["amount"])
            links.setdefault("provider", row["bet__provider"] or "")
            links["currency"] = row["bet__currency"] or ""
    return ReviewItem.objects.create(kind=kind, summary=summary[:255], **links)


def review_on_wallet_event(event: events.WalletEvent) -> None:
    """Wallet event subscriber: settlements that need a human go to the review queue.

    Noise rules (thresholds in wallet/conf.py, per kind): a step that moves less than its
    kind's threshold stays in the bet's history only; an unsettle whose payout a later settle
    restores closes its own item."""
    if event.settlement_id is None or event.bet_id is None:
        if event.kind == events.TRANSACTION_REVERSED and event.previous_amount is not None:
            if event.previous_amount < conf.REVIEW_ROLLBACK_MIN_AMOUNT:
                return  # the publisher said what was paid: too little to flag, nothing to read
        if event.kind == events.TRANSACTION_REVERSED and event.transaction_ids:
            reversal = LedgerTransaction.objects.select_related("reverses").get(pk=event.transaction_ids[-1])
            paid = reversal.reverses
            if paid and paid.kind == LedgerTransaction.Kind.PAYOUT:
                amount = _payout_amount(paid)
                if amount >= conf.REVIEW_ROLLBACK_MIN_AMOUNT:
                    review_flag(
                        kind=ReviewItem.Kind.PAID_WIN_ROLLBACK,
                        player_id=event.player_id,
                        provider=event.provider or paid.provider,
                        currency=paid.currency,
                        amount=-amount,
                        summary=f"{event.provider} rolled back paid result {paid.external_id} "
                        f"({format_money(amount, paid.currency)})",
                    )
        return
    if event.kind not in (events.BET_SETTLED, events.BET_RESETTLED, events.BET_UNSETTLED, events.BET_ROLLED_BACK):
        return
    if event.amount is not None and event.previous_amount is not None and not _may_flag(event):
        return  # the common case on the callback hot path: nothing for staff, no query
    step = event.settlement  # as the posting wrote it; read only when a publisher did not pass it
    if step is None:
        step = Settlement.objects.select_related("bet").get(pk=event.settlement_id)
    bet = step.bet
    cur = bet.currency
    links = {
        "player_id": event.player_id,
        "bet_id": event.bet_id,
        "settlement_id": step.pk,
        "provider": bet.provider,
        "currency": cur,
    }
    label = f"{bet.provider} bet {bet.external_id}"
    if event.kind == events.BET_SETTLED and event.unsettled_before is not False:
        _close_restored_unsettle(step)
    if event.kind in (events.BET_SETTLED, events.BET_RESETTLED) and step.amount >= conf.REVIEW_LARGE_WIN_AMOUNT:
        review_flag(
            kind=ReviewItem.Kind.LARGE_WIN,
            summary=f"{label} pays {format_money(step.amount, cur)}",
            amount=step.amount,
            **links,
        )
    if event.kind == events.BET_RESETTLED and abs(step.amount - step.previous_amount) >= _resettle_floor():
        review_flag(
            kind=ReviewItem.Kind.RESETTLE,
            summary=f"{label} re-settled {format_money(step.previous_amount, cur)} → {format_money(step.amount, cur)}",
            amount=step.amount - step.previous_amount,
            **links,
        )
    elif event.kind == events.BET_UNSETTLED and step.previous_amount >= conf.REVIEW_UNSETTLE_MIN_AMOUNT:
        review_flag(
            kind=ReviewItem.Kind.UNSETTLE,
            summary=f"{label} unsettled: takes back {format_money(step.previous_amount, cur)}",
            amount=-step.previous_amount,
            **links,
        )
    elif event.kind == events.BET_ROLLED_BACK and step.previous_amount >= conf.REVIEW_ROLLBACK_MIN_AMOUNT:
        review_flag(
            kind=ReviewItem.Kind.PAID_WIN_ROLLBACK,
            summary=f"{label} rolled back after paying {format_money(step.previous_amount, cur)}",
            amount=-step.previous_amount,
            **links,
        )


def _resettle_floor():
    # A re-settlement that changes nothing never needs a human, even with a zero threshold.
    return max(conf.REVIEW_RESETTLE_MIN_AMOUNT, Decimal("0.00000001"))


def _payout_amount(payout: LedgerTransaction) -> Decimal:
    credited = payout.entries.filter(amount__gt=0, account__kind="player").aggregate(s=Sum("amount"))["s"]
    return credited or Decimal(0)


def _close_restored_unsettle(step: Settlement) -> None:
    """An unsettle followed by a settle to the same payout nets to nothing: close its item."""
    before = (
        Settlement.objects.filter(bet_id=step.bet_id, id__lt=step.pk)
        .order_by("-id")
        .values("id", "kind", "previous_amount")
        .first()
    )
    if not before or before["kind"] != Settlement.Kind.UNSETTLE or before["previous_amount"] != step.amount:
        return
    ReviewItem.objects.filter(
        kind=ReviewItem.Kind.UNSETTLE, settlement_id=before["id"], status=ReviewItem.Status.OPEN
    ).update(status=ReviewItem.Status.RESOLVED, resolved_at=timezone.now(), resolution=AUTO_CLOSED)


def _may_flag(event: events.WalletEvent) -> bool:
    """Whether a step with these amounts can need a human (the rules above, from the event)."""
    amount, previous = event.amount, event.previous_amount
    if event.kind == events.BET_SETTLED:
        # A settle may also close an unsettle's item; only a settle after an unsettle can.
        return amount >= conf.REVIEW_LARGE_WIN_AMOUNT or (
            amount >= conf.REVIEW_UNSETTLE_MIN_AMOUNT and amount > 0 and _follows_unsettle(event)
        )
    if event.kind == events.BET_RESETTLED:
        return amount >= conf.REVIEW_LARGE_WIN_AMOUNT or abs(amount - previous) >= _resettle_floor()
    if event.kind == events.BET_ROLLED_BACK:
        return previous >= conf.REVIEW_ROLLBACK_MIN_AMOUNT and previous > 0
    return previous >= conf.REVIEW_UNSETTLE_MIN_AMOUNT  # unsettle


def _follows_unsettle(event: events.WalletEvent) -> bool:
    if event.unsettled_before is False:
        return False  # never unsettled: there is no unsettle item to close
    return ReviewItem.objects.filter(
        bet_id=event.bet_id, kind=ReviewItem.Kind.UNSETTLE, status=ReviewItem.Status.OPEN
    ).exists()


def review_on_debt(debt: Debt) -> None:
    review_flag(
        kind=ReviewItem.Kind.DEBT,
        player_id=debt.player_id,
        debt_id=debt.pk,
        currency=debt.currency,
        amount=-abs(debt.amount),
        summary=f"player owes {format_money(abs(debt.amount), debt.currency)} after a forced correction",
    )


def review_on_conflict(conflict: IdempotencyConflict) -> None:
    review_flag(
        kind=ReviewItem.Kind.IDEMPOTENCY_CONFLICT,
        conflict_id=conflict.pk,
        provider=conflict.provider,
        summary=f"{conflict.provider} {conflict.operation} {conflict.external_id} reused with different content",
    )
