"""The seed's balance walk-through (protocols/betsy.md §12), step by step, with retries."""

from decimal import Decimal

import pytest

from wallet.models import Bet, Settlement

pytestmark = pytest.mark.django_db

TX = "b26153f9-ef3a-4768-b6c8-0861acdecb7a"  # the seed's transactionId


def test_twenty_fifteen_twentyfive_twenty_fifteen(betsy, alice):
    # The iframe opens: profile, then balance. The user's initial balance is $20.
    profile = betsy.profile(alice.token)
    assert profile.status == 200
    assert profile.data["userId"] == "alice" and profile.data["currency"] == "USD"
    balance = betsy.balance("alice", "USD", alice.token)
    assert balance.status == 200 and balance.data["amount"] == Decimal("20.00")

    # Place a $5 bet at 2.0: $20 - $5 = $15.
    placed = betsy.place(TX, "alice", "USD", 5, alice.token, coefficient=2)
    assert placed.status == 200, placed.body
    assert set(placed.data) == {"transactionId", "transactionTime"}
    assert alice.balance == Decimal("15")
    assert betsy.retry().body == placed.body  # a retry gets the first answer, byte for byte
    assert alice.balance == Decimal("15")

    # Settle, won $10: $15 + $10 = $25.
    won = betsy.settle(TX, "alice", "USD", 10, "won", coefficient=2)
    assert won.status == 200, won.body
    assert alice.balance == Decimal("25")
    assert betsy.retry().body == won.body
    assert alice.balance == Decimal("25")

    # Resettle as refund $5: $25 - $10 + $5 = $20.
    refund = betsy.settle(TX, "alice", "USD", 5, "refund", coefficient=2)
    assert refund.status == 200, refund.body
    assert alice.balance == Decimal("20")
    assert betsy.retry().body == refund.body
    assert alice.balance == Decimal("20")

    # Unsettle: $20 - $5 = $15, the bet is waiting for a result again.
    unsettled = betsy.unsettle(TX, "alice", "USD", 5, coefficient=2)
    assert unsettled.status == 200, unsettled.body
    assert alice.balance == Decimal("15")
    assert betsy.retry().status == 200
    assert alice.balance == Decimal("15")
    assert betsy.balance("alice", "USD", alice.token).data["amount"] == Decimal("15.00")

    bet = Bet.objects.get(provider="betsy", external_id=TX)
    assert bet.status == Bet.Status.OPEN and bet.payout == 0
    assert list(bet.settlements.values_list("kind", "amount")) == [
        (Settlement.Kind.SETTLE, Decimal("10")),
        (Settlement.Kind.RESETTLE, Decimal("5")),
        (Settlement.Kind.UNSETTLE, Decimal("0")),
    ]
