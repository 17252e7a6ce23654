"""Reads: balances, ledger history, bets. No writes here."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from wallet import rows
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
    is_test: bool = False
    # Player protection (wallet.limits.gate), read in the same statement.
    self_excluded_until: Any = None
    timed_out_until: Any = None
    jurisdiction: str = ""
    verification: str = "unverified"
    date_of_birth: Any = None
    limited: bool = False  # Account.limited: the posting moves the limit counters in its statement

    @property
    def spendable(self) -> Decimal:
        return self.balance + self.bonus_balance


_WALLET_SELECT = (
    "SELECT p.id, p.status, a.id, a.balance, a.bonus_balance, a.debt_balance, p.external_id, p.is_test,"
    " p.self_excluded_until, p.timed_out_until, p.jurisdiction, p.verification, p.date_of_birth, a.limited"
    " FROM wallet_player p {join} wallet_account a"
    " ON a.player_id = p.id AND a.currency = %s AND a.kind = 'player'"
    " WHERE {where}"
)


def wallet_query(*, external_id: str, currency: str) -> tuple[str, tuple[str, str]]:
    """The SQL and parameters of `wallet_get`'s read, for callers that send it with other work
    (idempotency.Preload); turn its row into a WalletRef with `wallet_from_row`."""
    return _WALLET_SELECT.format(join="LEFT JOIN", where="p.external_id = %s"), (currency, external_id)


def wallet_from_row(row: tuple | None, *, who: str, currency: str) -> WalletRef:
    """The WalletRef of a row of `wallet_query` (or `_WALLET_SELECT`'s columns). Raises
    PlayerNotFound (no row), or CurrencyMismatch (no wallet in `currency`)."""
    if row is None:
        raise PlayerNotFound(f"unknown player {who!r}")
    if row[2] is None:
        raise CurrencyMismatch(f"player {who!r} has no {currency} wallet")
    # Its slots set directly: WalletRef(**15 keywords) builds a keyword dict and sets each field
    # with object.__setattr__, ~32k instructions against ~14k; run on every IGPX bet and on both
    # of a Betsy bet's callbacks (issue #18). Every field set, in order (tests/wallet/test_wallet_ref.py).
    made = _new(WalletRef)
    _set_player_id(made, row[0])
    _set_external_id(made, row[6])
    _set_status(made, row[1])
    _set_account_id(made, row[2])
    _set_currency(made, currency)
    _set_balance(made, _to_decimal(row[3]))
    _set_bonus_balance(made, _to_decimal(row[4]))
    _set_debt_balance(made, _to_decimal(row[5]))
    _set_is_test(made, bool(row[7]))
    _set_self_excluded_until(made, row[8])
    _set_timed_out_until(made, row[9])
    _set_jurisdiction(made, row[10])
    _set_verification(made, row[11])
    _set_date_of_birth(made, row[12])
    _set_limited(made, bool(row[13]))
    return made


_new = object.__new__
(
    _set_player_id,
    _set_external_id,
    _set_status,
    _set_account_id,
    _set_currency,
    _set_balance,
    _set_bonus_balance,
    _set_debt_balance,
    _set_is_test,
    _set_self_excluded_until,
    _set_timed_out_until,
    _set_jurisdiction,
    _set_verification,
    _set_date_of_birth,
    _set_limited,
) = (getattr(WalletRef, f.name).__set__ for f in fields(WalletRef))


def wallet_get(
    *, currency: str, external_id: str | None = None, player_id: int | None = None, for_update: bool = False
) -> WalletRef:
    """One round trip: the player (by external id or by our id), their status and their wallet
    in `currency`.

    Raises PlayerNotFound, or CurrencyMismatch when the player has no wallet in that currency.
    `for_update` takes the account's row lock (PostgreSQL), for read-compute-write sequences.
    """
    if (external_id is None) == (player_id is None):
        raise TypeError("wallet_get needs exactly one of external_id and player_id")
    lock = " FOR NO KEY UPDATE OF a" if for_update and rows.db().vendor == "postgresql" else ""
    # Locking needs an inner join; a missing wallet then reads as a missing player, so
    # callers lock only wallets they have already read once.
    sql = _WALLET_SELECT.format(
        join="JOIN" if lock else "LEFT JOIN", where="p.external_id = %s" if player_id is None else "p.id = %s"
    )
    with rows.cursor() as cursor:
        cursor.execute(sql + lock, [currency, external_id if player_id is None else player_id])
        row = cursor.fetchone()
    return wallet_from_row(row, who=external_id if player_id is None else f"#{player_id}", currency=currency)


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
    accounts = (
        Account.objects.exclude(kind=Account.Kind.PLAYER)
        .annotate(total=Sum("entries__amount"))
        .order_by("kind", "provider", "currency")
    )
    return [
        {"id": a.pk, "kind": a.kind, "provider": a.provider, "currency": a.currency, "balance": a.total or Decimal(0)}
        for a in accounts
    ]
