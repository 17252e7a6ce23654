"""Reversals: an earlier ledger transaction compensated by the opposite entries, never edited.

Split from postings.py (which re-exports `transaction_reverse` and `Reversed`): a reversal that
takes back money the player no longer has records the rest as debt, for staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from wallet import ledger, rows
from wallet.errors import InsufficientFunds, NotReversible, TransactionNotFound
from wallet.ledger import BONUS, DEBT, REAL, Leg
from wallet.models import Bet, Debt, LedgerTransaction
from wallet.services import reviews

Kind = LedgerTransaction.Kind


# --- Reversal ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reversed:
    transaction_id: int
    shortfall: Decimal  # what the player could not cover, now recorded as debt
    balance: Decimal | None = None  # the player account's real balance after, when the posting moved it
    spendable: Decimal | None = None  # … and its real + bonus (ledger.Posted.spendable)
    moved: Decimal = Decimal(0)  # what the reversal moved on the player's real + bonus buckets


def transaction_reverse(
    *,
    original_id: int,
    reason: str = "",
    actor_id: int | None = None,
    external_id: str = "",
    allow_debt: bool = True,
) -> Reversed:
    """Compensate an earlier transaction with the opposite entries. Never edits or deletes.

    Taking back money the player no longer has (a paid win rolled back, a deposit charged
    back) takes what the real balance holds and records the rest as debt, when `allow_debt`;
    otherwise raises InsufficientFunds. A transaction can be reversed once (unique constraint).
    """
    return _reverse(
        "t.id = %s", [original_id], f"no transaction {original_id}", reason, actor_id, external_id, allow_debt
    )


def _stake_refund(bet: Bet, *, reason: str, actor_id: int | None, external_id: str) -> Reversed:
    """Reverse the bet's stake transaction (found by the bet, in the same round trip)."""
    return _reverse(
        "t.bet_id = %s AND t.kind = %s",
        [bet.pk, Kind.BET.value],
        f"bet {bet.external_id} has no stake transaction",
        reason,
        actor_id,
        external_id,
        True,
    )


def _reverse(
    where: str,
    params: list,
    missing: str,
    reason: str,
    actor_id: int | None,
    external_id: str,
    allow_debt: bool,
) -> Reversed:
    # One statement: the original's row lock, whether it is reversed already, and its entries.
    lock = " FOR NO KEY UPDATE OF t" if rows.db().vendor == "postgresql" else ""
    entries = rows.all_rows(
        "SELECT t.id, t.currency, t.player_id, t.provider, t.bet_id,"
        " EXISTS (SELECT 1 FROM wallet_ledgertransaction r WHERE r.reverses_id = t.id),"
        " e.account_id, e.bucket, e.amount, a.player_id, a.limited"
        " FROM wallet_ledgertransaction t JOIN wallet_ledgerentry e ON e.transaction_id = t.id"
        f" JOIN wallet_account a ON a.id = e.account_id WHERE {where} ORDER BY e.account_id, e.bucket" + lock,
        params,
    )
    if not entries:
        raise TransactionNotFound(missing)
    original_id, currency, player_id, provider, bet_id, already_reversed = entries[0][:6]
    if already_reversed:
        raise NotReversible(f"transaction {original_id} is already reversed")

    legs: list[Leg] = []
    shortfall = Decimal(0)
    for *_, account_id, bucket, entry_amount, account_player, _limited in entries:
        amount = -ledger._to_decimal(entry_amount)
        tracked = account_player is not None
        if tracked and amount < 0 and bucket in (REAL, BONUS):
            column = "balance" if bucket == REAL else "bonus_balance"
            account_lock = " FOR NO KEY UPDATE" if rows.db().vendor == "postgresql" else ""
            (held,) = rows.values(f"SELECT {column} FROM wallet_account WHERE id = %s" + account_lock, [account_id])
            available = ledger._to_decimal(held)
            if available < -amount:
                if not allow_debt:
                    raise InsufficientFunds(f"account {account_id} holds {available}, reversal needs {-amount}")
                missing_amount = -amount - available
                shortfall += missing_amount
                legs.append(Leg(account_id, -available, bucket, tracked=True))
                legs.append(Leg(account_id, -missing_amount, DEBT, tracked=True))
                continue
        legs.append(Leg(account_id, amount, bucket, tracked=tracked))

    posted = ledger.post(
        kind=Kind.REVERSAL,
        currency=currency,
        player_id=player_id,
        provider=provider,
        external_id=external_id,
        bet_id=bet_id,
        reverses_id=original_id,
        created_by_id=actor_id,
        reason=reason,
        legs=legs,
        limited=any(row[-1] for row in entries),
    )
    if shortfall > 0 and player_id is not None:
        debt = Debt.objects.create(
            player_id=player_id,
            currency=currency,
            amount=shortfall,
            transaction_id=posted.transaction_id,
        )
        reviews.review_on_debt(debt)
    real_after = [posted.balances[(leg.account_id, REAL)] for leg in legs if (leg.account_id, REAL) in posted.balances]
    return Reversed(
        transaction_id=posted.transaction_id,
        shortfall=shortfall,
        balance=real_after[0] if real_after else None,
        spendable=posted.spendable,
        moved=sum((leg.amount for leg in legs if leg.tracked and leg.bucket in (REAL, BONUS)), Decimal(0)),
    )
