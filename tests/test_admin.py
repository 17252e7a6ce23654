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
