"""Our book against GET /parlay/sp/orders: ambiguous accepts and missed events."""

from decimal import Decimal

import pytest
from django.utils import timezone

from parlays.models import ExposureReservation, Order, ReconciliationIssue
from parlays.protocol import odds as am
from parlays.protocol.rest import parse_order
from parlays.services.reconciliation import check_order, reconcile_orders

pytestmark = pytest.mark.django_db


class FakeProphetX:
    def __init__(self, orders=()):
        self.orders = list(orders)

    def list_orders(self, **kwargs):
        return [parse_order(o) for o in self.orders]


def accepted_order(desk, stake="100", *, fail=False):
    parlay_id, outcome = desk.ask([desk.line(0, 219, 4), desk.line(1, 225, 12)])
    odds = desk.offers()[0]["odds"]
    desk.poster.fail_network = fail
    order_uuid, _ = desk.confirm(parlay_id, odds, stake)
    desk.poster.fail_network = False
    return parlay_id, order_uuid, odds


def px_row(parlay_id, order_uuid, odds, stake, status="finalized", settlement=None, profit=None):
    return {
        "order_uuid": order_uuid,
        "parlay_id": parlay_id,
        "status": status,
        "settlement_status": settlement,
        "confirmed_odds": am.bettor_to_sp(odds),
        "confirmed_stake": Decimal(stake),
        "profit": profit,
    }


def test_an_ambiguous_accept_absent_at_the_last_check_is_released(desk):
    _, order_uuid, _ = accepted_order(desk, fail=True)
    px = FakeProphetX()
    assert check_order(px, order_uuid, settings=desk.settings, final=False) == "absent"
    assert Order.objects.get().status == "accepted"
    assert check_order(px, order_uuid, settings=desk.settings, final=True) == "released"
    assert Order.objects.get().status == "not_booked"
    assert not ExposureReservation.objects.filter(state="reserved").exists()
    assert ReconciliationIssue.objects.get().kind == "not_booked"


def test_an_ambiguous_accept_that_prophetx_booked_is_finalized(desk):
    parlay_id, order_uuid, odds = accepted_order(desk, fail=True)
    px = FakeProphetX([px_row(parlay_id, order_uuid, odds, "100")])
    assert check_order(px, order_uuid, settings=desk.settings, final=False) == "booked"
    assert Order.objects.get().status == "finalized"


def test_sweep_applies_a_missed_settlement_and_flags_differences(desk):
    parlay_id, order_uuid, odds = accepted_order(desk)
    desk.finalize(parlay_id, order_uuid, odds, "100")
    px = FakeProphetX(
        [
            px_row(parlay_id, order_uuid, odds, "100", status="settled", settlement="lost", profit=Decimal("-100")),
            px_row("fdd7e3fb-ef50-42eb-9d73-43d3d7f1390f", "01991588-274d-70be-ac0a-cf876677d57f", 300, "20"),
        ]
    )
    counts = reconcile_orders(px, settings=desk.settings)
    assert counts["applied"] == 1 and counts["issues"] == 1
    order = Order.objects.get(order_uuid=order_uuid)
    assert (order.status, order.pnl) == ("settled", Decimal("-100"))
    kinds = sorted(ReconciliationIssue.objects.values_list("kind", flat=True))
    assert kinds == ["applied_from_rest", "missing_locally"]
    # A second sweep finds nothing new.
    assert reconcile_orders(px, settings=desk.settings)["issues"] == 0


def test_sweep_releases_accepts_never_booked(desk):
    _, order_uuid, _ = accepted_order(desk)
    Order.objects.filter(order_uuid=order_uuid).update(accepted_at=timezone.now() - timezone.timedelta(minutes=5))
    assert reconcile_orders(FakeProphetX(), settings=desk.settings)["released"] == 1
    assert Order.objects.get().status == "not_booked"


def test_sweep_flags_a_stake_difference(desk):
    parlay_id, order_uuid, odds = accepted_order(desk)
    desk.finalize(parlay_id, order_uuid, odds, "100")
    reconcile_orders(FakeProphetX([px_row(parlay_id, order_uuid, odds, "120")]), settings=desk.settings)
    assert ReconciliationIssue.objects.filter(kind="difference").exists()
