"""PUT /payment/bet type 3: rollback, in any order, refunding once (protocols/betsy.md §9)."""

from decimal import Decimal

import pytest

from tests.factories import fund, make_player
from tests.wallet.betsy.conftest import state_counts
from wallet.betsy import tokens
from wallet.models import Bet, IdempotencyConflict, IdempotencyRecord, LedgerTransaction

pytestmark = pytest.mark.django_db


def test_rollback_after_the_bet_refunds_the_stake_once(betsy, alice):
    betsy.place("tx-1", "alice", "USD", 5, alice.token)
    reply = betsy.rollback("tx-1", "alice", "USD", 5, error_code=8)  # Betsy's 8: odds changed
    assert reply.status == 200
    assert alice.balance == 20
    bet = Bet.objects.get()
    assert bet.status == "rolled_back"
    refund = LedgerTransaction.objects.get(kind="reversal")
    assert reply.data["transactionId"] == str(refund.pk) and refund.reverses.kind == "bet"
    assert betsy.retry().body == reply.body
    # A second rollback with other details: still refunded once, answered as the first time.
    again = betsy.rollback("tx-1", "alice", "USD", 5, error_code=52)
    assert again.status == 200 and alice.balance == 20
    assert LedgerTransaction.objects.filter(kind="reversal").count() == 1
    assert betsy.place("tx-1", "alice", "USD", 5, alice.token).status == 200  # the place's own replay
    assert alice.balance == 20


def test_rollback_before_the_bet_leaves_a_tombstone(betsy, alice):
    before = state_counts()
    assert betsy.rollback("tx-1", "alice", "USD", 5, error_code=10).status == 200
    assert betsy.retry().status == 200
    late = betsy.place("tx-1", "alice", "USD", 5, alice.token)
    assert late.status == 400 and late.data["code"] == 8
    assert betsy.retry().data["code"] == 8
    assert alice.balance == 20 and Bet.objects.count() == 0
    after = state_counts()
    assert after["transactions"] == before["transactions"]
    assert IdempotencyRecord.objects.get(external_id="tx-1", operation="place").outcome == "tombstone"


def test_rollback_of_a_settled_bet_takes_the_payout_back_and_refunds(betsy, alice):
    betsy.place("tx-1", "alice", "USD", 5, alice.token)
    betsy.settle("tx-1", "alice", "USD", 10, "won")
    assert alice.balance == 25
    assert betsy.rollback("tx-1", "alice", "USD", 5).status == 200
    assert alice.balance == 20


def test_rollback_of_a_declined_bet_refunds_nothing(betsy, alice):
    assert betsy.place("tx-1", "alice", "USD", 50, alice.token).data["code"] == 7
    assert betsy.rollback("tx-1", "alice", "USD", 50).status == 200
    assert alice.balance == 20 and Bet.objects.count() == 0


def test_rollback_with_another_amount_still_refunds_the_stake(betsy, alice):
    betsy.place("tx-1", "alice", "USD", 5, alice.token)
    assert betsy.rollback("tx-1", "alice", "USD", 7).status == 200
    assert alice.balance == 20


def test_rollback_refunds_bonus_to_bonus(betsy):
    kim = make_player("kim", currencies=("USD",))
    fund(kim, "2", "USD", bonus="10")
    token = tokens.issue(player_id=kim.pk, external_id="kim", currency="USD")
    betsy.place("tx-1", "kim", "USD", 5, token)
    assert betsy.rollback("tx-1", "kim", "USD", 5).status == 200
    wallet = Bet.objects.get().player.accounts.get()
    assert (wallet.balance, wallet.bonus_balance) == (Decimal("2"), Decimal("10"))


@pytest.mark.parametrize(("field", "value"), [("userId", "bob"), ("currency", "EUR")])
def test_rollback_must_match_the_bet(betsy, alice, bob, field, value):
    betsy.place("tx-1", "alice", "USD", 5, alice.token)
    body = betsy.bet_body(
        type_=3, transaction_id="tx-1", user_id="alice", currency="USD", amount=5, token=None, errorCode=8
    )
    body[field] = value
    before = state_counts()
    assert betsy.request("PUT", "/payment/bet", body).data["code"] == 5
    assert state_counts() == before and alice.balance == 15


def test_rollback_conflict_is_answered_as_the_first_and_kept_for_staff(betsy, alice):
    """Two rollbacks of one (never placed) transactionId naming different players: the first
    leaves the tombstone; the second is answered as the first and recorded as a conflict."""
    assert betsy.rollback("tx-2", "alice", "USD", 5).status == 200
    first = betsy.last
    second = betsy.rollback("tx-2", "bob", "USD", 5)
    assert second.status == 200
    assert IdempotencyConflict.objects.filter(external_id="tx-2", operation="rollback").count() == 1
    assert first is not None
