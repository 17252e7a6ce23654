"""Staff reversals through the four-eyes flow reach Fast Track as the right events, and leave
the ledger clean (the autouse invariant check runs after each test)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.crm.conftest import SELECTION, payloads, place, settle, unsettle
from tests.factories import fund, make_player
from wallet.models import Settlement
from wallet.selectors import wallet_get
from wallet.services import backoffice

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    player = make_player("alice")
    fund(player, "100.00")
    return player


@pytest.fixture
def rita_and_fiona():
    backoffice.roles_ensure()
    users = []
    for name, role in [("rita", "Risk"), ("fiona", "Finance")]:
        user = get_user_model().objects.create_user(name, password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users.append(get_user_model().objects.get(pk=user.pk))
    return users


def reverse_latest(bet_id, rita, fiona):
    step = Settlement.objects.filter(bet_id=bet_id).order_by("-id").first()
    request = backoffice.reversal_request(settlement_id=step.pk, reason="wrong result from provider", actor=rita)
    backoffice.staff_request_approve(request_id=request.pk, actor=fiona, note="checked")


def last(n):
    return [(p["type"], p["status"], p["amount"]) for p in payloads()[-n:]]


def test_reversal_of_a_won_bet_rolls_the_settlement_back(alice, rita_and_fiona):
    bet = place(alice, "10.00", "b-won", selections=[SELECTION]).bet
    settle(bet.pk, "25.00", "won")
    reverse_latest(bet.pk, *rita_and_fiona)
    assert last(1) == [("Settlement", "Rollback", Decimal("25.00"))]
    assert wallet_get(external_id="alice", currency="EUR").balance == Decimal("90.00")


def test_reversal_of_a_lost_bet_rolls_the_loss_back(alice, rita_and_fiona):
    bet = place(alice, "10.00", "b-lost", selections=[SELECTION]).bet
    settle(bet.pk, "0", "lost")
    reverse_latest(bet.pk, *rita_and_fiona)
    assert last(1) == [("Settlement", "Rollback", Decimal("0"))]


def test_reversal_of_a_resettlement_restores_the_earlier_result(alice, rita_and_fiona):
    bet = place(alice, "10.00", "b-re", selections=[SELECTION]).bet
    settle(bet.pk, "25.00", "won")
    settle(bet.pk, "10.00", "refund")
    reverse_latest(bet.pk, *rita_and_fiona)
    (undo, redo) = last(2)
    assert undo == ("Settlement", "Rollback", Decimal("10.00"))
    assert redo[:2] == ("Settlement", "Approved") and redo[2] == Decimal("25.00")
    assert wallet_get(external_id="alice", currency="EUR").balance == Decimal("115.00")


def test_reversal_of_an_unsettle_sends_the_settlement_again(alice, rita_and_fiona):
    bet = place(alice, "10.00", "b-un", selections=[SELECTION]).bet
    settle(bet.pk, "25.00", "won")
    unsettle(bet.pk)
    reverse_latest(bet.pk, *rita_and_fiona)
    assert last(1)[0][:2] == ("Settlement", "Approved") and last(1)[0][2] == Decimal("25.00")
    assert wallet_get(external_id="alice", currency="EUR").balance == Decimal("115.00")
