"""`selectors.wallet_from_row` sets WalletRef's slots directly (issue #18): the object must be
the one WalletRef's own __init__ makes from the row, every field set, still frozen."""

from __future__ import annotations

import datetime
from dataclasses import FrozenInstanceError, fields
from decimal import Decimal

import pytest

from wallet.errors import CurrencyMismatch, PlayerNotFound
from wallet.selectors import WalletRef, wallet_from_row


def _by_init(row: tuple, currency: str) -> WalletRef:
    # What wallet_from_row built before (the dataclass's own __init__), column by column.
    return WalletRef(
        player_id=row[0],
        external_id=row[6],
        status=row[1],
        account_id=row[2],
        currency=currency,
        balance=Decimal(str(row[3])).quantize(Decimal("0.00000001")) if not isinstance(row[3], Decimal) else row[3],
        bonus_balance=Decimal(str(row[4])).quantize(Decimal("0.00000001"))
        if not isinstance(row[4], Decimal)
        else row[4],
        debt_balance=Decimal(str(row[5])).quantize(Decimal("0.00000001"))
        if not isinstance(row[5], Decimal)
        else row[5],
        is_test=bool(row[7]),
        self_excluded_until=row[8],
        timed_out_until=row[9],
        jurisdiction=row[10],
        verification=row[11],
        date_of_birth=row[12],
        limited=bool(row[13]),
    )


def test_the_wallet_ref_s_slots_are_its_fields_in_order() -> None:
    # A field added to WalletRef must be set by wallet_from_row too: this fails until it is.
    assert [f.name for f in fields(WalletRef)] == [
        "player_id",
        "external_id",
        "status",
        "account_id",
        "currency",
        "balance",
        "bonus_balance",
        "debt_balance",
        "is_test",
        "self_excluded_until",
        "timed_out_until",
        "jurisdiction",
        "verification",
        "date_of_birth",
        "limited",
    ]


_NOW = datetime.datetime(2026, 12, 6, 23, 0, tzinfo=datetime.UTC)
ROWS = [
    # PostgreSQL: Decimals, booleans, dates or None
    (17, "active", 33, Decimal("99997.50000000"), Decimal("0E-8"), Decimal("0E-8"), "p-1", False)
    + (None, None, "", "unverified", None, False),
    (18, "blocked", 34, Decimal("-1.5"), Decimal("2.25"), Decimal("3"), "p-2", True)
    + (_NOW, _NOW, "MT", "verified", datetime.date(1990, 1, 2), True),
    # SQLite: floats, ints and 0/1 for booleans
    (19, "active", 35, 12.5, 0, 0.1, "p-3", 1, None, None, "SE", "pending", "1990-01-02", 0),
]


@pytest.mark.parametrize("row", ROWS)
def test_wallet_from_row_is_the_dataclass_s_own(row: tuple) -> None:
    made = wallet_from_row(row, who="p", currency="USD")
    expected = _by_init(row, "USD")
    assert type(made) is WalletRef
    assert made == expected
    assert repr(made) == repr(expected)
    assert [type(getattr(made, f.name)) for f in fields(WalletRef)] == [
        type(getattr(expected, f.name)) for f in fields(WalletRef)
    ]
    assert made.spendable == expected.balance + expected.bonus_balance
    with pytest.raises(FrozenInstanceError):  # still frozen
        made.balance = Decimal(0)  # type: ignore[misc]


def test_wallet_from_row_refuses_no_player_and_no_wallet() -> None:
    with pytest.raises(PlayerNotFound, match="unknown player 'p'"):
        wallet_from_row(None, who="p", currency="USD")
    with pytest.raises(CurrencyMismatch, match="player 'p' has no USD wallet"):
        wallet_from_row((17, "active", None) + (None,) * 11, who="p", currency="USD")
