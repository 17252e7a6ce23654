"""Report test helpers: a clock for scenarios, and both providers driven through their callbacks.

The ledger stamps rows with the database's clock, so a scenario step runs now and its new rows
are then dated to the step's moment (`Clock.at`): what the same callbacks would have written at
that time.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Max
from django.test import Client

from tests.factories import fund, make_player
from tests.wallet.betsy.conftest import Actor, django_transport
from tests.wallet.igpx.conftest import SECRET, Provider
from wallet.betsy.simulator import Betsy
from wallet.models import Bet, LedgerTransaction, Settlement
from wallet.services.backoffice import adjustment_request, reversal_request, roles_ensure, staff_request_approve

ZONE_NAME = "Pacific/Auckland"  # UTC+13 in November (daylight time): midnight is 11:00 UTC
ZONE = ZoneInfo(ZONE_NAME)
DAY1, DAY2 = date(2026, 11, 2), date(2026, 11, 3)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def _top(model, field: str = "id") -> int:
    return model.objects.aggregate(m=Max(field))["m"] or 0


@contextmanager
def at(text: str):
    """Date every transaction, bet and settlement written inside the block to `text` (local)."""
    moment = local(text)
    marks = (_top(LedgerTransaction), _top(Bet), _top(Settlement))
    yield
    LedgerTransaction.objects.filter(id__gt=marks[0]).update(created_at=moment)
    Bet.objects.filter(id__gt=marks[1]).update(placed_at=moment)
    Settlement.objects.filter(id__gt=marks[2]).update(created_at=moment)


@pytest.fixture
def report_zone(settings):
    settings.REPORT_TIMEZONE = ZONE_NAME
    return ZONE


@pytest.fixture
def igpx(settings) -> Provider:
    settings.IGPX_SECURITY_HASH = SECRET
    return Provider(Client())


@pytest.fixture
def betsy() -> Betsy:
    return Betsy(django_transport(Client()), settings.BETSY_PARTNER_SECRET)


def staff(name: str, role: str, **extra):
    roles_ensure()
    user = get_user_model().objects.create_user(name, password="pw-" + name, is_staff=True, **extra)
    user.groups.add(Group.objects.get(name=role))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


def ok(reply) -> None:
    """IGPX answers {"error": null, …}; Betsy answers 200 with no error code."""
    body = getattr(reply, "raw", None) or reply.body
    assert reply.status == 200 and b'"error": "' not in body and b'"code"' not in body, body


@pytest.fixture
def story(db, report_zone, igpx, betsy):
    """Two days of play; see the module docstring of each step for what moves."""
    with at("2026-11-01 12:00"):
        alice = make_player("alice")  # IGPX, EUR
        fund(alice, "100")
        carol = Actor("carol", "20")  # Betsy, USD, real 20 + bonus 10
        fund(carol.player, "0", "USD", bonus="10")
        dave = Actor("dave", "20")
    risk, finance, finance2 = staff("rita", "Risk"), staff("fiona", "Finance"), staff("fred", "Finance")

    # --- Day 1 ---------------------------------------------------------------------------------
    with at("2026-11-02 10:00"):
        ok(igpx.bet("i-b1", "10.00"))
    with at("2026-11-02 12:00"):
        ok(igpx.result("i-r1", "30.00"))  # a win (IGPX results are not linked to a bet)
    with at("2026-11-02 13:00"):
        ok(igpx.bet("i-b2", "5.00"))
    with at("2026-11-02 13:30"):
        ok(igpx.result("i-r2", "0"))  # a loss: nothing moves
    with at("2026-11-02 14:00"):
        ok(igpx.bet("i-b3", "4.00"))
    with at("2026-11-02 15:00"):
        ok(igpx.rollback("i-rb3", "i-b3", "4.00"))  # rollback before settlement: stake refunded
    with at("2026-11-02 23:50"):
        ok(igpx.bet("i-b4", "6.00"))  # its result comes after midnight

    with at("2026-11-02 09:00"):
        ok(betsy.place("d-b4", "dave", "USD", 10, dave.token))
    with at("2026-11-02 11:00"):
        ok(betsy.settle("d-b4", "dave", "USD", 25, "won"))
    with at("2026-11-02 20:00"):
        ok(betsy.place("c-b1", "carol", "USD", 25, carol.token))  # real 20 + bonus 5
    with at("2026-11-02 22:00"):
        ok(betsy.settle("c-b1", "carol", "USD", 50, "won"))
    with at("2026-11-02 23:30"):
        ok(betsy.settle("c-b1", "carol", "USD", 40, "won"))  # resettle: -10
    with at("2026-11-02 23:40"):
        ok(betsy.place("c-b2", "carol", "USD", 10, carol.token))  # open at midnight

    # --- Day 2 ---------------------------------------------------------------------------------
    with at("2026-11-03 00:10"):
        ok(igpx.result("i-r4", "12.00"))  # the late result lands on day 2
    with at("2026-11-03 09:00"):
        ok(igpx.rollback("i-rb1", "i-r1", "30.00"))  # the paid win of day 1 rolled back
    with at("2026-11-03 00:30"):
        ok(betsy.settle("c-b2", "carol", "USD", 30, "won"))
    with at("2026-11-03 01:00"):
        ok(betsy.unsettle("c-b2", "carol", "USD", 30))
    with at("2026-11-03 02:00"):
        ok(betsy.settle("c-b2", "carol", "USD", 0, "lost"))
    with at("2026-11-03 02:30"):
        ok(betsy.place("c-b3", "carol", "USD", 35, carol.token))  # real 30 + bonus 5, stays open
    with at("2026-11-03 03:00"):
        ok(betsy.rollback("c-b1", "carol", "USD", 25))  # after settlement: 40 back, 20 of it debt
    betsy.sub_partner_id = "vip"  # a sub-brand (Betsy's subPartnerId): its bets have their own rows
    with at("2026-11-03 04:00"):
        ok(betsy.place("d-b5", "dave", "USD", 8, dave.token))  # dave: 35 -> 27
    with at("2026-11-03 05:00"):
        ok(betsy.settle("d-b5", "dave", "USD", 0, "lost"))
    betsy.sub_partner_id = None
    step = Settlement.objects.filter(bet__external_id="d-b4").latest("id")
    with at("2026-11-03 10:00"):
        request = reversal_request(settlement_id=step.pk, reason="void match confirmed by trader", actor=risk)
        staff_request_approve(request_id=request.pk, actor=finance)  # 25 taken back, bet open again
    with at("2026-11-03 11:00"):
        request = adjustment_request(
            player_external_id="dave", currency="USD", amount=Decimal("7"), reason="goodwill for the outage", actor=risk
        )
        staff_request_approve(request_id=request.pk, actor=finance2)
    return {"alice": alice, "carol": carol, "dave": dave}
