"""Settlement: order.settled realises an order's P&L; parlay.settled cross-checks the parlay.

`settlement_status` is from the SP's side: `won` means we won [observed]. `profit` is taken as
the size of the result and signed by the status (won: +, lost: -; push/void as sent), because
the sources do not say whether a loss arrives negative. A second settlement with a different
result adds a correcting entry (never an edit) and is flagged for staff.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from parlays.models import BookEntry, InboundMessage, Order, ParlaySettlement, ReconciliationIssue
from parlays.protocol.messages import ORDER_SETTLED, PARLAY_SETTLED, OrderSettled, ParlaySettled
from parlays.services import exposure
from parlays.services.inbound import message_row
from parlays.services.orders import flag

TOLERANCE = Decimal("0.01")


def signed_pnl(status: str, profit: Decimal | None, *, risk: Decimal, bettor_stake: Decimal) -> Decimal:
    """Our P&L for a settled order (pure). Without a profit figure we use our own numbers."""
    if status == "won":
        return abs(profit) if profit is not None else bettor_stake
    if status == "lost":
        return -abs(profit) if profit is not None else -risk
    return profit if profit is not None else Decimal(0)


def order_settled(msg: OrderSettled, *, received_at: datetime, raw: str = "", channel: str = "") -> Order | None:
    note = ""
    status = InboundMessage.Status.PROCESSED
    with transaction.atomic(durable=True):
        order = Order.objects.select_for_update().filter(order_uuid=msg.order_uuid).first()
        if order is None:
            note = "unknown order"
            ReconciliationIssue.objects.create(
                kind="unknown_order_settled",
                order_uuid=msg.order_uuid,
                parlay_id=msg.parlay_id,
                detail=f"order.settled {msg.settlement_status} profit {msg.profit} for an order we do not hold",
            )
        elif msg.settlement_status == "tbd":
            note = "settlement to be determined: nothing realised"
        elif order.status == Order.Status.REFUNDED:
            note = "settlement after refund: ignored"
            flag(order, "settle_after_refund: order.settled arrived for a refunded order")
            order.save()
        else:
            pnl = signed_pnl(msg.settlement_status, msg.profit, risk=order.risk, bettor_stake=order.bettor_stake)
            if order.status == Order.Status.SETTLED:
                if pnl == order.pnl and msg.settlement_status == order.settlement_status:
                    note = "duplicate settlement"
                    status = InboundMessage.Status.DUPLICATE
                else:
                    BookEntry.objects.create(
                        order=order,
                        kind=BookEntry.Kind.RESETTLEMENT,
                        amount=pnl - order.pnl,
                        currency=order.currency,
                        note=f"{order.settlement_status} {order.pnl} -> {msg.settlement_status} {pnl}",
                    )
                    flag(order, f"resettled: {order.settlement_status} {order.pnl} -> {msg.settlement_status} {pnl}")
                    _apply(order, msg, pnl)
            else:
                BookEntry.objects.create(
                    order=order,
                    kind=BookEntry.Kind.SETTLEMENT,
                    amount=pnl,
                    currency=order.currency,
                    note=msg.settlement_status,
                )
                if order.status == Order.Status.ACCEPTED:
                    flag(order, "settled_unfinalized: settled before any order.finalized")
                exposure.close(order, exposure.State.REALISED)
                _apply(order, msg, pnl)
            if abs(pnl) > max(order.risk, order.bettor_stake) + TOLERANCE:
                flag(order, f"profit_out_of_range: P&L {pnl} exceeds risk {order.risk} / stake {order.bettor_stake}")
                order.save()
        message_row(
            topic=ORDER_SETTLED,
            channel=channel,
            body=raw,
            status=status,
            received_at=received_at,
            parlay_id=msg.parlay_id,
            order_uuid=msg.order_uuid,
            error=note,
        ).save()
    return order


def _apply(order: Order, msg: OrderSettled, pnl: Decimal) -> None:
    order.status = Order.Status.SETTLED
    order.settlement_status = msg.settlement_status
    order.px_profit = msg.profit
    order.pnl = pnl
    order.settled_at = timezone.now()
    order.save()


def parlay_settled(msg: ParlaySettled, *, received_at: datetime, raw: str = "", channel: str = "") -> ParlaySettlement:
    with transaction.atomic(durable=True):
        orders = Order.objects.filter(parlay_id=msg.parlay_id)
        open_orders = [o.order_uuid for o in orders if o.status in (Order.Status.ACCEPTED, Order.Status.FINALIZED)]
        realised = orders.filter(status=Order.Status.SETTLED).aggregate(s=Sum("pnl"))["s"] or Decimal(0)
        notes = []
        if not orders.exists():
            notes.append("no order of ours in this parlay")
        if open_orders:
            notes.append(f"orders still open: {', '.join(open_orders)}")
        if msg.profit is not None and orders.exists():
            expected = signed_pnl(msg.settlement_status, msg.profit, risk=Decimal(0), bettor_stake=Decimal(0))
            if abs(expected - realised) > TOLERANCE:
                notes.append(f"ProphetX parlay result {expected}, our orders realised {realised}")
        note = "; ".join(notes)
        row, _ = ParlaySettlement.objects.update_or_create(
            parlay_id=msg.parlay_id,
            defaults={
                "settlement_status": msg.settlement_status,
                "profit": msg.profit,
                "settled_at_ns": msg.settled_at_ns,
                "received_at": received_at,
                "consistent": not notes,
                "note": note[:255],
            },
        )
        if notes:
            ReconciliationIssue.objects.create(kind="parlay_settlement_mismatch", parlay_id=msg.parlay_id, detail=note)
        message_row(
            topic=PARLAY_SETTLED,
            channel=channel,
            body=raw,
            status=InboundMessage.Status.PROCESSED,
            received_at=received_at,
            parlay_id=msg.parlay_id,
            error=note,
        ).save()
    return row
