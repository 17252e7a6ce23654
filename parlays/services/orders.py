"""Order lifecycle after our confirmation: order.finalized, order.matched, refund.processed.

Each handler runs in one durable transaction together with its InboundMessage row and is
idempotent: a repeated frame changes nothing. Anything that disagrees with our book (an order we
never accepted, a size above what we accepted) is applied as ProphetX states it, because it is
their order, and flagged for staff (`Order.needs_review`, `ReconciliationIssue`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from parlays.conf import ParlaySettings
from parlays.models import BookEntry, InboundMessage, MatchedOrder, Order, QuoteRequest, ReconciliationIssue
from parlays.pricing import bettor_stake_for
from parlays.protocol import odds as am
from parlays.protocol.messages import (
    ORDER_FINALIZED,
    ORDER_MATCHED,
    REFUND_PROCESSED,
    OrderFinalized,
    OrderMatched,
    RefundProcessed,
)
from parlays.services import exposure
from parlays.services.inbound import message_row

logger = logging.getLogger("touchline.parlays.orders")

FINAL_STATES = (Order.Status.SETTLED, Order.Status.REFUNDED)
NOT_BOOKED_STATUSES = {"rejected", "failed", "cancelled", "canceled", "expired", "void"}


def flag(order: Order, note: str) -> None:
    order.needs_review = True
    order.review_note = (order.review_note + "\n" if order.review_note else "") + note
    ReconciliationIssue.objects.create(
        kind=note.split(":")[0][:32], order_uuid=order.order_uuid, parlay_id=order.parlay_id, detail=note
    )


def order_legs_keys(request: QuoteRequest | None) -> list[tuple[str, str]]:
    if request is None:
        return [(exposure.Scope.TOTAL.value, exposure.TOTAL_KEY)]
    return exposure.exposure_keys(exposure.LegKeys(leg.event_urn, leg.outcome_key) for leg in request.legs.all())


def order_finalized(
    msg: OrderFinalized, *, settings: ParlaySettings, received_at: datetime, raw: str = "", channel: str = ""
) -> Order:
    note = ""
    with transaction.atomic(durable=True):
        exposure.lock_book(settings.currency)
        order = Order.objects.select_for_update().filter(order_uuid=msg.order_uuid).first()
        sp_odds = msg.confirmed_odds if msg.confirmed_odds is not None else msg.sp_odds
        if msg.status in NOT_BOOKED_STATUSES:
            if order is not None and order.status not in FINAL_STATES:
                exposure.close(order, exposure.State.RELEASED)
                order.status = Order.Status.NOT_BOOKED
                order.save()
            note = f"order {msg.status} by ProphetX"
        elif order is None:
            request = QuoteRequest.objects.filter(parlay_id=msg.parlay_id).first()
            bettor = am.sp_to_bettor(sp_odds) if sp_odds is not None else 0
            risk = msg.confirmed_stake or Decimal(0)
            order = Order.objects.create(
                order_uuid=msg.order_uuid,
                parlay_id=msg.parlay_id,
                request=request,
                currency=settings.currency,
                status=Order.Status.FINALIZED,
                bettor_odds=bettor,
                risk=risk,
                bettor_stake=bettor_stake_for(risk, bettor) if bettor >= 100 else Decimal(0),
                finalized_at=timezone.now(),
            )
            exposure.reserve(order, order_legs_keys(request), risk)
            flag(order, "unknown_order: finalized by ProphetX without an accept of ours")
            order.save()
            note = "unknown order"
        elif order.status in FINAL_STATES:
            note = f"late finalize for a {order.status} order: ignored"
        else:
            if order.status == Order.Status.NOT_BOOKED:
                # We released it as unbooked, but ProphetX did book it: count it again.
                exposure.reserve(order, order_legs_keys(order.request), order.risk)
                flag(order, "late_finalize: finalized after we released it as not booked")
            changed = order.status != Order.Status.FINALIZED
            order.status = Order.Status.FINALIZED
            order.finalized_at = order.finalized_at or timezone.now()
            stake = msg.confirmed_stake
            if stake is not None and stake != order.risk:
                if stake > order.risk:
                    flag(order, f"size_above_accepted: finalized risk {stake} > accepted {order.risk}")
                exposure.resize(order, stake)
                order.risk = stake
                order.bettor_stake = bettor_stake_for(stake, order.bettor_odds)
                changed = True
            if sp_odds is not None and am.sp_to_bettor(sp_odds) != order.bettor_odds:
                flag(order, f"odds_mismatch: finalized at SP {sp_odds}, we accepted +{order.bettor_odds}")
                changed = True
            if changed:
                order.save()
            else:
                note = "duplicate finalize"
        message_row(
            topic=ORDER_FINALIZED,
            channel=channel,
            body=raw,
            status=InboundMessage.Status.DUPLICATE if note == "duplicate finalize" else InboundMessage.Status.PROCESSED,
            received_at=received_at,
            parlay_id=msg.parlay_id,
            order_uuid=msg.order_uuid,
            error=note,
        ).save()
    return order


def order_matched(msg: OrderMatched, *, received_at: datetime, raw: str = "", channel: str = "") -> MatchedOrder:
    with transaction.atomic():
        row = MatchedOrder.objects.create(
            parlay_id=msg.parlay_id,
            matched_odds=msg.matched_odds,
            bettor_odds=msg.bettor_odds,
            matched_stake=msg.matched_stake,
            matched_at_ns=msg.matched_at_ns,
            market_lines=[{"line_id": line.line_id, "market_id": line.market_id} for line in msg.market_lines],
            received_at=received_at,
            ours=QuoteRequest.objects.filter(parlay_id=msg.parlay_id).exists(),
        )
        message_row(
            topic=ORDER_MATCHED,
            channel=channel,
            body=raw,
            status=InboundMessage.Status.PROCESSED,
            received_at=received_at,
            parlay_id=msg.parlay_id,
        ).save()
    return row


def refund_processed(
    msg: RefundProcessed, *, settings: ParlaySettings, received_at: datetime, raw: str = "", channel: str = ""
) -> list[Order]:
    """Undocumented payload [open]: we refund the named order (or every order of the parlay):
    its exposure is released and any realised P&L is reversed with a compensating entry."""
    with transaction.atomic(durable=True):
        exposure.lock_book(settings.currency)
        orders = Order.objects.select_for_update()
        orders = orders.filter(order_uuid=msg.order_uuid) if msg.order_uuid else orders.filter(parlay_id=msg.parlay_id)
        changed = []
        for order in orders:
            if order.status == Order.Status.REFUNDED:
                continue
            exposure.close(order, exposure.State.RELEASED)
            if order.pnl:
                BookEntry.objects.create(
                    order=order,
                    kind=BookEntry.Kind.REFUND,
                    amount=-order.pnl,
                    currency=order.currency,
                    note="refund.processed",
                )
                order.pnl = Decimal(0)
            order.status = Order.Status.REFUNDED
            order.save()
            changed.append(order)
        error = "" if changed else "no open order of ours matches this refund"
        if not changed:
            ReconciliationIssue.objects.create(
                kind="unknown_refund", order_uuid=msg.order_uuid, parlay_id=msg.parlay_id, detail=error
            )
        message_row(
            topic=REFUND_PROCESSED,
            channel=channel,
            body=raw,
            status=InboundMessage.Status.PROCESSED,
            received_at=received_at,
            parlay_id=msg.parlay_id,
            order_uuid=msg.order_uuid,
            error=error,
        ).save()
    return changed
