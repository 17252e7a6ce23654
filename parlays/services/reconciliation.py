"""Reconciliation of our book against GET /parlay/sp/orders.

- An accept whose delivery failed is checked at +3 s, +15 s and +60 s (`check_order`); absent at
  the last check, it was not booked: its exposure is released.
- The periodic sweep (`reconcile_orders`) compares every order: states ProphetX has moved on
  (finalized, settled) are applied through the same services as the WebSocket events, and every
  difference is recorded as a ReconciliationIssue for staff.
The REST calls happen first, outside any transaction.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from parlays.conf import ParlaySettings
from parlays.models import Confirmation, Order, ReconciliationIssue
from parlays.protocol.messages import OrderFinalized, OrderSettled
from parlays.protocol.rest import PxOrder
from parlays.services import exposure, orders, settlement

logger = logging.getLogger("touchline.parlays.reconciliation")

CHECK_DELAYS_S = (3, 15, 60)


def _issue(kind: str, order_uuid: str, parlay_id: str, detail: str, *, auto: bool = False) -> None:
    ReconciliationIssue.objects.create(
        kind=kind, order_uuid=order_uuid, parlay_id=parlay_id, detail=detail, auto_resolved=auto, resolved=auto
    )


def _apply_px_state(px: PxOrder, order: Order, settings: ParlaySettings) -> list[str]:
    """Bring one of our orders up to what ProphetX reports. Returns what was done."""
    done = []
    now = timezone.now()
    if order.status in (Order.Status.ACCEPTED, Order.Status.NOT_BOOKED) and px.status in (
        "finalized",
        "settled",
        "matched",
    ):
        orders.order_finalized(
            OrderFinalized(
                parlay_id=px.parlay_id,
                order_uuid=px.order_uuid,
                status="finalized",
                sp_odds=px.confirmed_odds,
                confirmed_odds=px.confirmed_odds,
                confirmed_stake=px.confirmed_stake,
                updated_at_ns=None,
            ),
            settings=settings,
            received_at=now,
            raw="(reconciliation) " + str(dict(px.raw))[:2000],
            channel="rest",
        )
        done.append("finalized from REST")
    settled = px.settlement_status in ("won", "lost", "push", "void")
    if (
        settled
        and order.status != Order.Status.REFUNDED
        and (order.status != Order.Status.SETTLED or px.settlement_status != order.settlement_status)
    ):
        settlement.order_settled(
            OrderSettled(
                order_uuid=px.order_uuid,
                parlay_id=px.parlay_id,
                settlement_status=px.settlement_status,
                settled_at_ns=None,
                profit=px.profit,
            ),
            received_at=now,
            raw="(reconciliation) " + str(dict(px.raw))[:2000],
            channel="rest",
        )
        done.append(f"settled {px.settlement_status} from REST")
    return done


def check_order(client: Any, order_uuid: str, *, settings: ParlaySettings, final: bool) -> str:
    """After an ambiguous accept: is the order on ProphetX? 'booked', 'absent' or 'released'."""
    px_orders = client.list_orders(max_orders=500)
    found = next((o for o in px_orders if o.order_uuid == order_uuid), None)
    order = Order.objects.filter(order_uuid=order_uuid).first()
    if order is None:
        return "unknown"
    if found is not None:
        _apply_px_state(found, order, settings)
        return "booked"
    if not final or order.status != Order.Status.ACCEPTED:
        return "absent"
    release_unbooked(order, "absent from /parlay/sp/orders after the last check")
    return "released"


def release_unbooked(order: Order, why: str) -> None:
    with transaction.atomic(durable=True):
        exposure.lock_book(order.currency)
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status != Order.Status.ACCEPTED:
            return
        exposure.close(locked, exposure.State.RELEASED)
        locked.status = Order.Status.NOT_BOOKED
        locked.save()
        _issue("not_booked", locked.order_uuid, locked.parlay_id, why, auto=True)


def reconcile_orders(client: Any, *, settings: ParlaySettings, since_hours: int = 72) -> dict[str, int]:
    now = timezone.now()
    since = now - timedelta(hours=since_hours)
    px_orders = client.list_orders(from_ns=int(since.timestamp() * 1e9))
    by_uuid = {o.order_uuid: o for o in px_orders}
    counts = {"px_orders": len(px_orders), "applied": 0, "issues": 0, "released": 0}
    ours = {
        o.order_uuid: o
        for o in Order.objects.filter(updated_at__gte=since)
        | Order.objects.filter(status__in=[Order.Status.ACCEPTED, Order.Status.FINALIZED])
    }
    for uuid, px in by_uuid.items():
        order = ours.get(uuid) or Order.objects.filter(order_uuid=uuid).first()
        if order is None:
            with transaction.atomic():
                if not ReconciliationIssue.objects.filter(kind="missing_locally", order_uuid=uuid).exists():
                    _issue(
                        "missing_locally",
                        uuid,
                        px.parlay_id,
                        f"ProphetX lists order {uuid} ({px.status}); we hold no such order",
                    )
                    counts["issues"] += 1
            continue
        done = _apply_px_state(px, order, settings)
        if done:
            counts["applied"] += 1
            with transaction.atomic():
                _issue("applied_from_rest", uuid, px.parlay_id, "; ".join(done), auto=True)
        order.refresh_from_db()
        differences = []
        if px.confirmed_stake is not None and abs(px.confirmed_stake - order.risk) > Decimal("0.01"):
            differences.append(f"stake: ProphetX {px.confirmed_stake}, ours {order.risk}")
        if px.profit is not None and order.status == Order.Status.SETTLED:
            expected = settlement.signed_pnl(
                px.settlement_status, px.profit, risk=order.risk, bettor_stake=order.bettor_stake
            )
            if abs(expected - order.pnl) > Decimal("0.01"):
                differences.append(f"P&L: ProphetX {expected}, ours {order.pnl}")
        if differences:
            with transaction.atomic():
                _issue("difference", uuid, px.parlay_id, "; ".join(differences))
            counts["issues"] += 1
    cutoff = now - timedelta(seconds=settings.unbooked_release_s)
    for order in Order.objects.filter(status=Order.Status.ACCEPTED, accepted_at__lt=cutoff):
        if order.order_uuid not in by_uuid:
            release_unbooked(order, "accepted but never finalized nor listed by ProphetX")
            counts["released"] += 1
    return counts


def ambiguous_accepts() -> list[str]:
    return list(
        Confirmation.objects.filter(
            action=Confirmation.Action.ACCEPT,
            delivery__in=[Confirmation.Delivery.FAILED, Confirmation.Delivery.REFUSED],
        ).values_list("order_uuid", flat=True)
    )
