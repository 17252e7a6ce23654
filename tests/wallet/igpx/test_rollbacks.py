"""Rollbacks: of bets, of results (with debt), before their target, twice, and wrong ones."""

from decimal import Decimal

import pytest

from tests.factories import balance, fund, make_player
from wallet import events
from wallet.models import Bet, Debt, IdempotencyConflict, LedgerTransaction, ReviewItem, Settlement

from .conftest import snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    alice = make_player("alice")
    fund(alice, "50.00")
    return alice


@pytest.fixture
def published():
    seen: list[events.WalletEvent] = []
    events.subscribe(seen.append)
    yield seen
    events.unsubscribe(seen.append)


def test_rollback_before_bet_leaves_a_tombstone_and_the_bet_never_debits(provider, alice, published):
    early = provider.rollback("rb-1", "b-1", "10.00")
    assert early.error is None and early.our_id.startswith("S")
    assert balance(alice) == Decimal("50.00")
    assert provider.rollback("rb-1", "b-1", "10.00").raw == early.raw  # the rollback's retries

    for _ in range(2):
        assert provider.bet("b-1", "10.00").json == {"error": "BET_ROLLED_BACK"}
    assert balance(alice) == Decimal("50.00")
    assert not Bet.objects.exists() and not LedgerTransaction.objects.filter(provider="igpx").exists()
    record = Settlement.objects.get(external_id="rb-1")
    assert (record.kind, record.transaction, record.amount) == (Settlement.Kind.ROLLBACK, None, Decimal(0))
    assert published == []  # no money moved, nothing to tell the CRM


def test_result_rolled_back_before_it_arrives_is_answered_but_never_credited(provider, alice):
    assert provider.rollback("rb-1", "r-1", "20.00").error is None
    late = provider.result("r-1", "20.00")
    assert late.json == {"error": None, "transaction_id": "V-r-1"}
    assert provider.result("r-1", "20.00").raw == late.raw
    assert balance(alice) == Decimal("50.00")


def test_rollback_of_a_bet_refunds_the_stake(provider, alice, published):
    provider.bet("b-1", "10.00")
    rollback = provider.rollback("rb-1", "b-1", "10.00")
    assert rollback.error is None and rollback.our_id.startswith("T")
    assert balance(alice) == Decimal("50.00")
    refund = LedgerTransaction.objects.get(pk=int(rollback.our_id[1:]))
    assert refund.kind == "reversal" and refund.reverses.external_id == "b-1" and refund.external_id == "rb-1"
    assert Bet.objects.get().status == Bet.Status.ROLLED_BACK
    assert [e.kind for e in published] == [events.BET_PLACED, events.BET_ROLLED_BACK]


def test_rollback_of_a_result_takes_the_payout_back(provider, alice, published):
    provider.result("r-1", "30.00")
    assert balance(alice) == Decimal("80.00")
    assert provider.rollback("rb-1", "r-1", "30.00").error is None
    assert balance(alice) == Decimal("50.00")
    assert not Debt.objects.exists()
    settlement = Settlement.objects.get(external_id="rb-1")
    assert (settlement.kind, settlement.previous_amount, settlement.bet) == ("rollback", Decimal(30), None)
    assert [e.kind for e in published] == [events.RESULT_CREDITED, events.TRANSACTION_REVERSED]
    assert published[-1].settlement_id == settlement.pk


def test_rollback_of_a_spent_result_records_debt(provider, alice):
    """The payout was bet away before the provider took it back: take what is there, the rest is debt."""
    provider.result("r-1", "30.00")  # 80
    provider.bet("b-1", "70.00")  # 10 left
    assert balance(alice) == Decimal("10.00")
    answer = provider.rollback("rb-1", "r-1", "30.00")
    assert answer.error is None  # a rollback must succeed
    assert balance(alice) == Decimal("0.00")
    debt = Debt.objects.get()
    assert (debt.player, debt.amount, debt.status, debt.currency) == (alice, Decimal("20.00"), "open", "EUR")
    assert alice.accounts.get().debt_balance == Decimal("-20.00")
    # Retried: nothing more is taken.
    assert provider.rollback("rb-1", "r-1", "30.00").raw == answer.raw
    assert Debt.objects.count() == 1


def test_a_second_different_rollback_of_the_same_target_moves_nothing(provider, alice):
    provider.bet("b-1", "10.00")
    provider.result("r-1", "5.00")
    assert provider.rollback("rb-1", "b-1", "10.00").error is None
    assert provider.rollback("rb-2", "r-1", "5.00").error is None
    state = snapshot()
    second_bet = provider.rollback("rb-3", "b-1", "10.00")
    second_result = provider.rollback("rb-4", "r-1", "5.00")
    assert second_bet.error is None and second_result.error is None
    assert snapshot()["balances"] == state["balances"]
    assert snapshot()["LedgerTransaction"] == state["LedgerTransaction"]
    assert Settlement.objects.get(external_id="rb-3").bet == Bet.objects.get()


def test_rollback_of_a_declined_bet_moves_nothing(provider, alice):
    assert provider.bet("b-1", "99.00").error == "INSUFFICIENT_FUNDS"
    assert provider.rollback("rb-1", "b-1", "99.00").error is None
    assert balance(alice) == Decimal("50.00")


def test_rollback_of_a_zero_result(provider, alice):
    provider.result("r-1", "0")
    assert provider.rollback("rb-1", "r-1", "0").error is None
    # A second rollback that disagrees: nothing left to undo, success, and staff see the amount.
    assert provider.rollback("rb-2", "r-1", "1.00").error is None
    assert balance(alice) == Decimal("50.00")
    item = ReviewItem.objects.get(kind=ReviewItem.Kind.ROLLBACK_MISMATCH)
    assert "amount 1.00 vs 0.00 EUR" in item.summary


def test_rollback_of_a_rollback_is_refused(provider, alice):
    provider.bet("b-1", "10.00")
    provider.rollback("rb-1", "b-1", "10.00")
    early = provider.rollback("rb-9", "never-seen", "1.00")
    assert early.error is None
    state = snapshot()
    assert provider.rollback("rb-2", "rb-1", "10.00").json == {"error": "INVALID_REQUEST"}
    assert provider.rollback("rb-3", "rb-9", "1.00").json == {"error": "INVALID_REQUEST"}
    after = snapshot()
    assert after["balances"] == state["balances"] and after["LedgerTransaction"] == state["LedgerTransaction"]


@pytest.mark.parametrize(
    ("amount", "user", "currency"),
    [
        ("5.00", "alice", "EUR"),
        ("20.00", "alice", "EUR"),
        ("9.99", "alice", "EUR"),
        ("10.00", "bob", "EUR"),
        ("10.00", "alice", "USD"),
    ],
)
def test_rollback_that_does_not_match_its_target_undoes_the_target_and_tells_staff(
    provider, alice, amount, user, currency
):
    """A rollback names the transaction to undo: it is undone exactly as it moved (the stake of
    10.00 comes back, whatever the rollback says), the provider gets success, staff see it."""
    bob = make_player("bob", currencies=("EUR",))
    from wallet.services.players import player_add_currency

    player_add_currency(player=alice, currency="USD")
    fund(bob, "5.00")
    provider.bet("b-1", "10.00")
    answer = provider.rollback("rb-1", "b-1", amount, user=user, currency=currency)
    assert answer.error is None and answer.our_id.startswith("T")
    assert balance(alice) == Decimal("50.00") and balance(bob) == Decimal("5.00")
    assert Bet.objects.get().status == Bet.Status.ROLLED_BACK
    item = ReviewItem.objects.get(kind=ReviewItem.Kind.ROLLBACK_MISMATCH)
    assert item.player == alice and item.bet == Bet.objects.get() and "rb-1" in item.summary
    assert not IdempotencyConflict.objects.exists()
    # Retried: byte-identical answer, nothing moves again, no second item.
    assert provider.rollback("rb-1", "b-1", amount, user=user, currency=currency).raw == answer.raw
    assert ReviewItem.objects.filter(kind=ReviewItem.Kind.ROLLBACK_MISMATCH).count() == 1
    assert balance(alice) == Decimal("50.00")


def test_zero_rollback_of_a_paid_result_takes_the_result_back(provider, alice):
    provider.result("r-1", "30.00")
    assert balance(alice) == Decimal("80.00")
    assert provider.rollback("rb-1", "r-1", "0").error is None
    assert balance(alice) == Decimal("50.00")
    assert ReviewItem.objects.filter(kind=ReviewItem.Kind.ROLLBACK_MISMATCH).count() == 1
