"""The back office renders every wallet page staff use, and money records stay read-only."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from tests.factories import fund, make_player
from wallet.models import Bet, LedgerTransaction
from wallet.selectors import wallet_get
from wallet.services.postings import bet_place_apply, bet_settle_apply

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def history():
    alice = make_player("alice")
    fund(alice, "20", bonus="3")
    with transaction.atomic():
        placed = bet_place_apply(
            provider="test",
            external_id="b1",
            wallet=wallet_get(external_id="alice", currency="EUR"),
            amount=Decimal("5"),
        )
    with transaction.atomic():
        bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal("10"), result="won")
    return alice


@pytest.mark.parametrize(
    "model",
    [
        "player",
        "account",
        "ledgertransaction",
        "ledgerentry",
        "bet",
        "settlement",
        "idempotencyrecord",
        "idempotencyconflict",
        "debt",
        "auditlog",
    ],
)
def test_changelists_render(staff_client, history, model):
    response = staff_client.get(reverse(f"admin:wallet_{model}_changelist"))
    assert response.status_code == 200


def test_player_page_shows_balances_and_bets(staff_client, history):
    response = staff_client.get(reverse("admin:wallet_player_change", args=[history.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "25.00" in body or "25.00000000" in body  # 20 - 5 + 10
    assert "b1" in body


def test_search_by_provider_transaction_id(staff_client, history):
    response = staff_client.get(reverse("admin:wallet_ledgertransaction_changelist"), {"q": "b1"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2  # the stake and the payout


def test_ledger_is_read_only(staff_client, history):
    txn = LedgerTransaction.objects.first()
    assert staff_client.get(reverse("admin:wallet_ledgertransaction_add")).status_code == 403
    assert (
        staff_client.post(reverse("admin:wallet_ledgertransaction_delete", args=[txn.pk]), {"post": "yes"}).status_code
        == 403
    )
    bet = Bet.objects.get()
    page = staff_client.get(reverse("admin:wallet_bet_change", args=[bet.pk]))
    assert page.status_code == 200 and b"settle" in page.content


def test_reversal_flow_through_the_admin(history, client):
    """Request as Risk, refused to Support, approved by Finance: balance and history updated."""
    from django.contrib.auth.models import Group

    from wallet.models import Settlement, StaffRequest
    from wallet.services.backoffice import roles_ensure

    roles_ensure()
    users = {}
    for name, role in [("rita", "Risk"), ("fiona", "Finance"), ("sam", "Support")]:
        users[name] = get_user_model().objects.create_user(name, password="pw", is_staff=True)
        users[name].groups.add(Group.objects.get(name=role))
    step = Settlement.objects.get(kind="settle")

    client.force_login(users["sam"])
    client.post(reverse("admin:wallet_settlement_reverse", args=[step.pk]), {"reason": "support thinks so"})
    assert not StaffRequest.objects.exists()

    client.force_login(users["rita"])
    response = client.post(reverse("admin:wallet_settlement_reverse", args=[step.pk]), {"reason": "wrong result"})
    request = StaffRequest.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/staffrequest/{request.pk}/change/")
    assert client.get(response.url).status_code == 200

    client.force_login(users["fiona"])
    page = client.get(reverse("admin:wallet_staffrequest_change", args=[request.pk]))
    assert b"approve-request" in page.content
    client.post(reverse("admin:wallet_staffrequest_approve", args=[request.pk]), {"note": "checked"})
    assert StaffRequest.objects.get().status == "applied"
    assert wallet_get(external_id="alice", currency="EUR").balance == Decimal("15")
    review = client.get(reverse("admin:wallet_reviewitem_changelist"))
    assert review.status_code == 200


def test_adjustment_request_page(staff_client, history):
    response = staff_client.post(
        reverse("admin:wallet_player_adjust", args=[history.pk]),
        {"currency": "EUR", "amount": "5", "reason": "goodwill credit"},
    )
    assert response.status_code == 302
    from wallet.models import StaffRequest

    assert StaffRequest.objects.get().amount == Decimal("5")
