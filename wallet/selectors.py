"""Reads: balances, ledger history, bets. No writes here."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet, Sum

from wallet.errors import CurrencyMismatch, PlayerNotFound
from wallet.ledger import _to_decimal
from wallet.models import Account, Bet, LedgerEntry, LedgerTransaction, Player


@dataclass(frozen=True, slots=True)
class WalletRef:
    """A player's wallet in one currency, as read at the start of a request."""

    player_id: int
    external_id: str
    status: str
    account_id: int
    currency: str
    balance: Decimal
    bonus_balance: Decimal
    debt_balance: Decimal

    @property
    def spendable(self) -> Decimal:
        return self.balance + self.bonus_balance


def wallet_get(*, external_id: str, currency: str, for_update: bool = False) -> WalletRef:
    """One round trip: the player, their status and their wallet in `currency`.

    Raises PlayerNotFound, or CurrencyMismatch when the player has no wallet in that currency.
    `for_update` takes the account's row lock (PostgreSQL), for read-compute-write sequences.
    """
    lock = " FOR NO KEY UPDATE OF a" if for_update and connection.vendor == "postgresql" else ""
    # Locking needs an inner join; a missing wallet then reads as a missing player, so
    # callers lock only wallets they have already read once.
    join = "JOIN" if lock else "LEFT JOIN"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.id, p.status, a.id, a.balance, a.bonus_balance, a.debt_balance"
            f" FROM wallet_player p {join} wallet_account a"
            " ON a.player_id = p.id AND a.currency = %s AND a.kind = 'player'"
            " WHERE p.external_id = %s" + lock,
            [currency, external_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise PlayerNotFound(f"unknown player {external_id!r}")
    if row[2] is None:
        raise CurrencyMismatch(f"player {external_id!r} has no {currency} wallet")
    return WalletRef(
        player_id=row[0],
        external_id=external_id,
        status=row[1],
        account_id=row[2],
        currency=currency,
        balance=_to_decimal(row[3]),
        bonus_balance=_to_decimal(row[4]),
        debt_balance=_to_decimal(row[5]),
    )


def player_get(*, external_id: str) -> Player:
    try:
        return Player.objects.get(external_id=external_id)
    except Player.DoesNotExist:
        raise PlayerNotFound(f"unknown player {external_id!r}") from None


def player_accounts(*, player: Player) -> QuerySet[Account]:
    return Account.objects.filter(player=player, kind=Account.Kind.PLAYER).order_by("currency")


def player_transactions(*, player: Player) -> QuerySet[LedgerTransaction]:
    return LedgerTransaction.objects.filter(player=player).prefetch_related("entries")


def player_bets(*, player: Player) -> QuerySet[Bet]:
    return Bet.objects.filter(player=player).prefetch_related("settlements")


def ledger_entries_for(*, account: Account) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account=account).select_related("transaction").order_by("id")


def house_balances() -> list[dict]:
    """House accounts with their balance: the sum of their entries (they keep no running balance)."""
    rows = (
        Account.objects.exclude(kind=Account.Kind.PLAYER)
        .annotate(total=Sum("entries__amount"))
        .order_by("kind", "provider", "currency")
    )
    return [
        {"id": a.pk, "kind": a.kind, "provider": a.provider, "currency": a.currency, "balance": a.total or Decimal(0)}
        for a in rows
    ]
