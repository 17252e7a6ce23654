"""The ledger's own behaviour: balanced postings, real-then-bonus, reversals, debt."""

import dataclasses
from decimal import Decimal

import pytest
from django.db import transaction

from tests.factories import balance, bonus_balance, fund, make_player
from wallet import ledger
from wallet.errors import InsufficientFunds, NotReversible, PlayerBlocked, PlayerSelfExcluded
from wallet.models import Bet, Debt, LedgerEntry, LedgerTransaction, Player
from wallet.selectors import wallet_get
from wallet.services.players import player_set_status
from wallet.services.postings import (
    bet_place_apply,
    bet_rollback_apply,
    bet_settle_apply,
    bet_unsettle_apply,
    credit_apply,
    transaction_reverse,
)
from wallet.services.transfers import withdrawal_apply

pytestmark = pytest.mark.django_db


def wallet(player, currency="EUR"):
    return wallet_get(external_id=player.external_id, currency=currency)


def place(player, amount, external_id="bet-1", **kwargs):
    with transaction.atomic():
        return bet_place_apply(
            provider="test", external_id=external_id, wallet=wallet(player), amount=Decimal(amount), **kwargs
        )


def test_unbalanced_posting_is_refused():
    alice = make_player("alice")
    with pytest.raises(ValueError, match="unbalanced"):
        ledger.post(kind="adjustment", currency="EUR", legs=[ledger.Leg(wallet(alice).account_id, Decimal("1"))])
    assert LedgerTransaction.objects.count() == 0


def test_bet_takes_real_money_first_then_bonus():
    alice = make_player("alice")
    fund(alice, "3.00", bonus="10.00")
    placed = place(alice, "5.00")
    assert (placed.stake_real, placed.stake_bonus) == (Decimal("3.00"), Decimal("2.00"))
    assert balance(alice) == 0 and bonus_balance(alice) == Decimal("8.00")
    bet = Bet.objects.get()
    assert (bet.stake, bet.stake_real, bet.stake_bonus) == (Decimal("5"), Decimal("3"), Decimal("2"))
    entries = LedgerEntry.objects.filter(transaction_id=placed.transaction_id)
    assert sum(e.amount for e in entries) == 0
    assert {e.bucket for e in entries} == {"real", "bonus"}


def _place_stale(player, amount, stale_balance):
    """A bet decided on a balance read before a concurrent debit spent it."""
    stale = dataclasses.replace(wallet(player), balance=Decimal(stale_balance))
    with transaction.atomic():
        return bet_place_apply(provider="test", external_id="bet-1", wallet=stale, amount=Decimal(amount))


def test_a_stale_balance_falls_back_to_bonus_under_the_lock_and_writes_one_bet():
    alice = make_player("alice")
    fund(alice, "3.00", bonus="10.00")
    placed = _place_stale(alice, "5.00", stale_balance="10.00")  # the guarded UPDATE fails first
    assert (placed.stake_real, placed.stake_bonus) == (Decimal("3.00"), Decimal("2.00"))
    bet = Bet.objects.get()
    assert (bet.pk, bet.stake_real, bet.stake_bonus) == (placed.bet.pk, Decimal("3"), Decimal("2"))
    assert LedgerTransaction.objects.get(pk=placed.transaction_id).bet_id == bet.pk
    assert balance(alice) == 0 and bonus_balance(alice) == Decimal("8.00")


def test_a_stale_balance_with_no_money_behind_it_writes_nothing():
    alice = make_player("alice")
    fund(alice, "3.00")
    with pytest.raises(InsufficientFunds):
        _place_stale(alice, "5.00", stale_balance="10.00")
    assert Bet.objects.count() == 0
    assert LedgerTransaction.objects.filter(kind="bet").count() == 0
    assert balance(alice) == Decimal("3.00")


def test_the_posting_reports_the_spendable_balance_it_left(postgres_only):
    alice = make_player("alice")
    fund(alice, "3.00", bonus="10.00")
    with transaction.atomic():
        posted = ledger.post(
            kind="bet",
            currency="EUR",
            player_id=alice.pk,
            legs=[
                ledger.Leg(wallet(alice).account_id, Decimal("-3"), ledger.REAL, tracked=True),
                ledger.Leg(wallet(alice).account_id, Decimal("-1"), ledger.BONUS, tracked=True),
                ledger.Leg(ledger.clearing_account_id("test", "EUR"), Decimal("4")),
            ],
        )
    assert posted.spendable == Decimal("9.00")
    assert posted.bet_id is None


def test_explicit_bonus_part():
    alice = make_player("alice")
    fund(alice, "10.00", bonus="10.00")
    placed = place(alice, "5.00", bonus_amount=Decimal("4.00"))
    assert (placed.stake_real, placed.stake_bonus) == (Decimal("1.00"), Decimal("4.00"))


def test_bet_refused_when_short_and_nothing_written():
    alice = make_player("alice")
    fund(alice, "4.99")
    with pytest.raises(InsufficientFunds):
        place(alice, "5.00")
    assert balance(alice) == Decimal("4.99")
    assert Bet.objects.count() == 0


@pytest.mark.parametrize(("status", "error"), [("blocked", PlayerBlocked), ("self_excluded", PlayerSelfExcluded)])
def test_blocked_players_cannot_bet_but_are_paid(status, error):
    alice = make_player("alice")
    fund(alice, "20")
    placed = place(alice, "5")
    player_set_status(player=alice, status=status, reason="test", actor_id=None)
    with pytest.raises(error):
        place(alice, "1", external_id="bet-2")
    with transaction.atomic():
        bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal("10"), result="won")
    assert balance(alice) == Decimal("25")


def test_withdrawal_only_from_real_money():
    alice = make_player("alice")
    fund(alice, "5", bonus="100")
    with pytest.raises(InsufficientFunds), transaction.atomic():
        withdrawal_apply(wallet=wallet(alice), amount=Decimal("6"), reference="w1", actor_id=None)


def test_reversal_mirrors_the_original_and_only_once():
    alice = make_player("alice")
    fund(alice, "20", bonus="5")
    placed = place(alice, "22")
    with transaction.atomic():
        reversed_ = transaction_reverse(original_id=placed.transaction_id, reason="test")
    assert balance(alice) == Decimal("20") and bonus_balance(alice) == Decimal("5")
    assert reversed_.shortfall == 0
    with pytest.raises(NotReversible), transaction.atomic():
        transaction_reverse(original_id=placed.transaction_id, reason="again")


def test_reversing_a_spent_credit_records_debt():
    alice = make_player("alice")
    fund(alice, "0.01")
    with transaction.atomic():
        credited = credit_apply(provider="test", external_id="r1", wallet=wallet(alice), amount=Decimal("10"))
    with transaction.atomic():
        withdrawal_apply(wallet=wallet(alice), amount=Decimal("6.01"), reference="w", actor_id=None)
    assert balance(alice) == Decimal("4")
    with transaction.atomic():
        reversed_ = transaction_reverse(original_id=credited.transaction_id, reason="provider rollback")
    assert reversed_.shortfall == Decimal("6")
    w = wallet(alice)
    assert w.balance == 0 and w.debt_balance == Decimal("-6")
    debt = Debt.objects.get()
    assert debt.amount == Decimal("6") and debt.status == "open"


def test_settle_resettle_unsettle_rollback_history():
    """The Betsy walk-through in domain terms: $20 -> $15 -> $25 -> $20 -> $15, then rollback -> $20."""
    alice = make_player("alice", ("USD",))
    fund(alice, "20", currency="USD")
    with transaction.atomic():
        placed = bet_place_apply(provider="test", external_id="b1", wallet=wallet(alice, "USD"), amount=Decimal("5"))
    assert balance(alice, "USD") == Decimal("15")
    with transaction.atomic():
        bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal("10"), result="won")
    assert balance(alice, "USD") == Decimal("25")
    with transaction.atomic():
        bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal("5"), result="refund")
    assert balance(alice, "USD") == Decimal("20")
    with transaction.atomic():
        bet_unsettle_apply(bet_id=placed.bet.pk)
    assert balance(alice, "USD") == Decimal("15")
    bet = Bet.objects.get()
    assert bet.status == "open" and bet.payout == 0
    assert [s.kind for s in bet.settlements.all()] == ["settle", "resettle", "unsettle"]
    with transaction.atomic():
        bet_rollback_apply(bet_id=bet.pk)
    assert balance(alice, "USD") == Decimal("20")
    assert Bet.objects.get().status == "rolled_back"


def test_database_refuses_negative_player_balance():
    """Even raw SQL cannot drive a player balance negative: a CHECK constraint backs the guards."""
    from django.db import IntegrityError, connection

    alice = make_player("alice")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE wallet_account SET balance = -1 WHERE player_id = %s", [alice.pk])


def test_player_status_change_is_audited():
    alice = make_player("alice")
    player_set_status(player=alice, status=Player.Status.BLOCKED, reason="fraud review", actor_id=None)
    from wallet.models import AuditLog

    log = AuditLog.objects.filter(action="player.status").get()
    assert log.reason == "fraud review" and log.data == {"from": "active", "to": "blocked"}


@pytest.mark.django_db(transaction=True)
def test_house_account_created_in_a_rolled_back_transaction_is_not_cached():
    """Regression: a decline rolled back the transaction that created the clearing account,
    and the cached id then broke every later posting with a foreign-key error."""
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger.clearing_account_id("fresh", "EUR")
        raise RuntimeError("decline")
    account_id = ledger.clearing_account_id("fresh", "EUR")
    from wallet.models import Account

    assert Account.objects.filter(pk=account_id).exists()


@pytest.mark.parametrize("buckets", [("real",), ("real", "bonus")])
def test_refused_posting_writes_nothing(buckets):
    """The guard refuses before anything is written, on both the one-statement (PostgreSQL)
    and the step-by-step (SQLite) paths."""
    alice = make_player("alice")
    fund(alice, "5", bonus="5")
    account = wallet(alice).account_id
    legs = [ledger.Leg(account, Decimal("-3"), bucket, tracked=True) for bucket in buckets]
    legs[0] = ledger.Leg(account, Decimal("-6"), buckets[0], tracked=True)  # more than the bucket holds
    house = ledger.Leg(ledger.clearing_account_id("test", "EUR"), -sum(leg.amount for leg in legs))
    before = (LedgerTransaction.objects.count(), LedgerEntry.objects.count())
    with pytest.raises(InsufficientFunds), transaction.atomic():
        ledger.post(kind="bet", currency="EUR", player_id=alice.pk, legs=[*legs, house])
    assert (LedgerTransaction.objects.count(), LedgerEntry.objects.count()) == before
    assert (balance(alice), bonus_balance(alice)) == (Decimal("5"), Decimal("5"))


def test_posting_reports_balances_after():
    alice = make_player("alice")
    fund(alice, "5", bonus="5")
    account = wallet(alice).account_id
    posted = ledger.post(
        kind="bet",
        currency="EUR",
        player_id=alice.pk,
        legs=[
            ledger.Leg(account, Decimal("-2"), "real", tracked=True),
            ledger.Leg(account, Decimal("-1.5"), "bonus", tracked=True),
            ledger.Leg(ledger.clearing_account_id("test", "EUR"), Decimal("3.5")),
        ],
    )
    assert posted.balances == {(account, "real"): Decimal("3"), (account, "bonus"): Decimal("3.5")}
    entries = {
        e.bucket: e.balance_after
        for e in LedgerEntry.objects.filter(transaction_id=posted.transaction_id, account_id=account)
    }
    assert entries == {"real": Decimal("3"), "bonus": Decimal("3.5")}


def test_bet_row_round_trips_selections_and_odds():
    alice = make_player("alice")
    fund(alice, "10")
    legs = [{"event": "A vs B", "market": "1x2", "outcome": "A", "odds": Decimal("2.10")}]
    placed = place(alice, "2", selections=legs, odds=Decimal("2.10"), bet_type=Bet.BetType.SINGLE)
    bet = Bet.objects.get(pk=placed.bet.pk)
    assert bet.selections == [{"event": "A vs B", "market": "1x2", "outcome": "A", "odds": "2.10"}]
    assert bet.odds == Decimal("2.10") and bet.status == "open" and bet.placed_at is not None
    assert placed.bet.pk == bet.pk


def test_upward_resettle_after_spending_the_winnings_creates_no_debt():
    """25 after the win, 22 spent -> 3; a correction 10 -> 15 nets +5 -> 8, without debt."""
    alice = make_player("alice")
    fund(alice, "20")
    placed = place(alice, "5")
    with transaction.atomic():
        bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal("10"), result="won")
    with transaction.atomic():
        withdrawal_apply(wallet=wallet(alice), amount=Decimal("22"), reference="w", actor_id=None)
    with transaction.atomic():
        result = bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal("15"), result="won")
    assert result.shortfall == 0
    assert balance(alice) == Decimal("8") and wallet(alice).debt_balance == 0
    assert not Debt.objects.exists()


def test_rollback_of_a_spent_win_refunds_the_stake_before_taking_the_win_back():
    """25 after the win, 22 spent -> 3. Rollback: +5 stake, -10 win: 0 left and 2 owed."""
    alice = make_player("alice")
    fund(alice, "20")
    placed = place(alice, "5")
    with transaction.atomic():
        bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal("10"), result="won")
    with transaction.atomic():
        withdrawal_apply(wallet=wallet(alice), amount=Decimal("22"), reference="w", actor_id=None)
    with transaction.atomic():
        result = bet_rollback_apply(bet_id=placed.bet.pk)
    assert (balance(alice), wallet(alice).debt_balance, result.shortfall) == (0, Decimal("-2"), Decimal("2"))
    step = Bet.objects.get().settlements.last()
    assert step.transaction.reverses.kind == "bet"  # the step's main movement is the stake refund


def test_every_settlement_step_reports_the_balance_it_left():
    """The balance a step reports comes from its last posting (or a read when nothing moved):
    it must equal the account's balance after the step, debt and spent winnings included."""
    alice = make_player("alice")
    fund(alice, "20")
    placed = place(alice, "5")
    bet_id = placed.bet.pk

    def step(apply, **kwargs):
        with transaction.atomic():
            result = apply(bet_id=bet_id, **kwargs)
        assert result.balance == balance(alice), apply.__name__
        return result

    step(bet_settle_apply, amount=Decimal("10"), result="won")  # credit
    step(bet_settle_apply, amount=Decimal("12"), result="won")  # credit, then reverse the old payout
    step(bet_settle_apply, amount=Decimal("12"), result="won")  # nothing moves: read
    step(bet_unsettle_apply)  # reversal only
    step(bet_settle_apply, amount=Decimal("30"), result="won")
    with transaction.atomic():
        withdrawal_apply(wallet=wallet(alice), amount=balance(alice), reference="spend-it", actor_id=None)
    rolled = step(bet_rollback_apply)  # refund, then a reversal the player cannot cover: debt
    assert rolled.shortfall > 0 and balance(alice) == 0
