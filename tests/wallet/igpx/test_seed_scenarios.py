"""Seed 001 ("Sportsbook API integration"), the Transactions part, step by step, balance at each step."""

from decimal import Decimal

import pytest

from tests.factories import balance, fund, make_player
from wallet.models import Bet, IdempotencyRecord, LedgerTransaction, Settlement
from wallet.services.players import player_set_status

pytestmark = pytest.mark.django_db


def test_bets_results_retries_and_rollbacks_follow_the_seed(provider):
    alice = make_player("alice")
    fund(alice, "20.00")

    # 'in case of "bet" the CLIENT must withdraw the amount from the user's balance'
    bet = provider.bet("b-1", "5.00")
    assert (bet.status, bet.error) == (200, None)
    assert bet.our_id.startswith("T")
    assert balance(alice) == Decimal("15.00")

    # 'When the CLIENT receives the transaction with the same transaction_id ... balance should not
    # be changed, but the response must be successful and be with the same transaction id'
    again = provider.bet("b-1", "5.00")
    assert again.raw == bet.raw
    assert balance(alice) == Decimal("15.00")

    # '{"error": "INSUFFICIENT_FUNDS"}'
    short = provider.bet("b-2", "15.01")
    assert (short.status, short.json) == (200, {"error": "INSUFFICIENT_FUNDS"})
    assert balance(alice) == Decimal("15.00")

    # 'in case of "result" the CLIENT must deposit the amount to the user's balance'
    result = provider.result("r-1", "9.50")
    assert result.error is None and result.our_id != bet.our_id
    assert balance(alice) == Decimal("24.50")

    # '"result" requests will be sent a few more times if not answered'
    for _ in range(3):
        assert provider.result("r-1", "9.50").raw == result.raw
    assert balance(alice) == Decimal("24.50")

    # A lost bet's result is zero: answered, recorded, nothing moves.
    lost = provider.result("r-0", "0")
    assert lost.error is None
    assert balance(alice) == Decimal("24.50")

    # Transaction-rollback: 'rollback_transaction_id - OPERATOR side transaction identifier which
    # must be rolled back'. The stake of b-3 comes back.
    assert provider.bet("b-3", "4.50").error is None
    assert balance(alice) == Decimal("20.00")
    rollback = provider.rollback("rb-1", "b-3", "4.50")
    assert rollback.error is None
    assert balance(alice) == Decimal("24.50")
    # 'Rollback requests, like result requests, can be sent multiple times.'
    assert provider.rollback("rb-1", "b-3", "4.50").raw == rollback.raw
    assert balance(alice) == Decimal("24.50")

    # 'If the transaction with "rollback_transaction_id" does not exist the transaction must be
    # inserted without changing the user's balance and be handled successfully.'
    early = provider.rollback("rb-2", "b-late", "3.00")
    assert early.error is None
    assert balance(alice) == Decimal("24.50")
    # ... and the bet it names, arriving late, must not debit the player.
    late = provider.bet("b-late", "3.00")
    assert late.json == {"error": "BET_ROLLED_BACK"}
    assert balance(alice) == Decimal("24.50")

    # Every answer carried a distinct id of ours.
    ids = [a.our_id for a in (bet, result, lost, rollback, early)]
    assert len(set(ids)) == len(ids)

    # Proper records for staff and the CRM export.
    b3 = Bet.objects.get(provider="igpx", external_id="b-3")
    assert b3.status == Bet.Status.ROLLED_BACK
    assert Bet.objects.get(external_id="b-1").status == Bet.Status.OPEN
    assert not Bet.objects.filter(external_id__in=["b-2", "b-late"]).exists()
    paid = Settlement.objects.get(external_id="r-1")
    assert (paid.kind, paid.bet, paid.amount, paid.player) == (Settlement.Kind.RESULT, None, Decimal("9.5"), alice)
    assert paid.transaction.kind == LedgerTransaction.Kind.PAYOUT
    assert Settlement.objects.get(external_id="r-0").transaction is None
    assert Settlement.objects.get(external_id="rb-1", kind=Settlement.Kind.ROLLBACK).bet == b3
    assert IdempotencyRecord.objects.get(external_id="b-2").error_code == "insufficient_funds"
    assert IdempotencyRecord.objects.get(external_id="b-late").outcome == "tombstone"


@pytest.mark.parametrize(("status", "code"), [("blocked", "PLAYER_BLOCKED"), ("self_excluded", "PLAYER_SELF_EXCLUDED")])
def test_a_banned_player_cannot_bet_but_every_result_is_processed(provider, status, code):
    """'The CLIENT may decline bet requests when the player is banned ... but all result
    requests must be processed successfully.'"""
    bob = make_player("bob")
    fund(bob, "50.00")
    assert provider.bet("b-1", "10.00", user="bob").error is None
    player_set_status(player=bob, status=status, reason="responsible gaming", actor_id=None)
    assert balance(bob) == Decimal("40.00")

    assert provider.bet("b-2", "1.00", user="bob").json == {"error": code}
    assert balance(bob) == Decimal("40.00")

    assert provider.result("r-1", "25.00", user="bob").error is None
    assert balance(bob) == Decimal("65.00")
    # Rollbacks too: both of a result and of a bet.
    assert provider.rollback("rb-1", "r-1", "25.00", user="bob").error is None
    assert provider.rollback("rb-2", "b-1", "10.00", user="bob").error is None
    assert balance(bob) == Decimal("50.00")


def test_blocked_player_with_no_money_is_declined_as_blocked(provider):
    carol = make_player("carol")
    player_set_status(player=carol, status="blocked", reason="fraud check", actor_id=None)
    assert provider.bet("b-1", "5.00", user="carol").error == "PLAYER_BLOCKED"


def test_bets_take_real_money_then_bonus(provider):
    dave = make_player("dave")
    fund(dave, "3.00", bonus="10.00")
    assert provider.bet("b-1", "5.00", user="dave").error is None
    bet = Bet.objects.get(external_id="b-1")
    assert (bet.stake_real, bet.stake_bonus) == (Decimal("3"), Decimal("2"))
    # Its rollback gives each bucket back what it gave.
    assert provider.rollback("rb-1", "b-1", "5.00", user="dave").error is None
    assert balance(dave) == Decimal("3.00")


def test_crypto_precision(provider):
    erin = make_player("erin", currencies=("BTC",))
    fund(erin, "0.01", currency="BTC")
    assert provider.bet("b-1", "0.00012345", user="erin", currency="BTC").error is None
    assert balance(erin, "BTC") == Decimal("0.00987655")
    assert provider.bet("b-2", "0.000000001", user="erin", currency="BTC").error == "INVALID_REQUEST"
