"""Domain: a player's statement: every money movement in a date range with the running balance.

The balance is real + bonus + debt of the player's wallet in that currency, opened with the sum
of all earlier entries; so the statement's last balance is the wallet's balance at the range's end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Sum

from reports.rollups import day_bounds
from wallet.ledger import _to_decimal
from wallet.models import Account, LedgerEntry, LedgerTransaction, Player

MAX_LINES = 20000


@dataclass(frozen=True)
class StatementLine:
    transaction_id: int
    posted_at: object
    kind: str
    provider: str
    reference: str
    bet: str
    real: Decimal
    bonus: Decimal
    debt: Decimal
    balance: Decimal
    reason: str

    @property
    def amount(self) -> Decimal:
        return self.real + self.bonus + self.debt


@dataclass(frozen=True)
class Statement:
    player: Player
    currency: str
    first: date
    last: date
    opening: Decimal
    closing: Decimal
    lines: list[StatementLine]
    truncated: bool


class StatementError(ValueError):
    pass


def statement_build(*, player_external_id: str, currency: str, first: date, last: date) -> Statement:
    player = Player.objects.filter(external_id=player_external_id).first()
    if player is None:
        raise StatementError(f"no player {player_external_id!r}")
    account = Account.objects.filter(kind=Account.Kind.PLAYER, player=player, currency=currency).first()
    if account is None:
        raise StatementError(f"player {player_external_id} has no {currency} wallet")
    if last < first:
        raise StatementError("the date range ends before it starts")
    start, _ = day_bounds(first)
    _, end = day_bounds(last)
    entries = LedgerEntry.objects.filter(account=account)
    opening = _to_decimal(
        entries.filter(transaction__created_at__lt=start).aggregate(s=Sum("amount"))["s"] or Decimal(0)
    )
    lines: list[StatementLine] = []
    balance = opening
    truncated = False
    for line in _lines(entries.filter(transaction__created_at__gte=start, transaction__created_at__lt=end), opening):
        if len(lines) >= MAX_LINES:
            truncated = True
            break
        lines.append(line)
        balance = line.balance
    return Statement(player, currency, first, last, opening, balance, lines, truncated)


def _lines(entries, opening: Decimal) -> Iterator[StatementLine]:
    """One line per transaction (its real, bonus and debt entries side by side), in posting order."""
    rows = entries.order_by("transaction_id", "id").values_list(
        "transaction_id",
        "transaction__created_at",
        "transaction__kind",
        "transaction__provider",
        "transaction__external_id",
        "transaction__bet__external_id",
        "transaction__reason",
        "transaction__reverses__kind",
        "bucket",
        "amount",
    )
    balance = opening
    current: dict | None = None
    for txn_id, at, kind, provider, ref, bet, reason, rev_kind, bucket, amount in rows.iterator(chunk_size=2000):
        if current is None or current["transaction_id"] != txn_id:
            if current is not None:
                balance += current["real"] + current["bonus"] + current["debt"]
                yield StatementLine(balance=balance, **current)
            label = LedgerTransaction.Kind(kind).label
            if rev_kind:
                label = f"{label} of {LedgerTransaction.Kind(rev_kind).label.lower()}"
            current = {
                "transaction_id": txn_id,
                "posted_at": at,
                "kind": label,
                "provider": provider,
                "reference": ref,
                "bet": bet or "",
                "reason": reason,
                "real": Decimal(0),
                "bonus": Decimal(0),
                "debt": Decimal(0),
            }
        current[bucket] += _to_decimal(amount)
    if current is not None:
        balance += current["real"] + current["bonus"] + current["debt"]
        yield StatementLine(balance=balance, **current)
