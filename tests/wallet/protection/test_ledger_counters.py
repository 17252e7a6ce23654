"""ledger.post moves the limit counters whether or not the caller knew the wallet had limits
(the `limited` hint folds the counter update into the posting's statement on PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from tests.factories import fund, make_player
from tests.wallet.protection.conftest import protect
from wallet import ledger
from wallet.errors import LossLimitExceeded
from wallet.models import WalletLimits
from wallet.selectors import wallet_get

pytestmark = pytest.mark.django_db


def _bet(account_id: int, amount: str, *, limited: bool, external_id: str) -> None:
    with transaction.atomic():
        ledger.post(
            kind="bet",
            currency="EUR",
            provider="test",
            external_id=external_id,
            limited=limited,
            legs=[
                ledger.Leg(account_id, -Decimal(amount), tracked=True),
                ledger.Leg(ledger.clearing_account_id("test", "EUR"), Decimal(amount)),
            ],
        )


@pytest.mark.parametrize("hint", [True, False])
def test_counters_move_and_judge_with_or_without_the_hint(hint):
    alice = make_player("alice")
    fund(alice, "100")
    protect(alice, loss_day="10.00")
    account_id = wallet_get(external_id="alice", currency="EUR").account_id
    assert wallet_get(external_id="alice", currency="EUR").limited
    _bet(account_id, "6.00", limited=hint, external_id="b-1")
    with pytest.raises(LossLimitExceeded):
        _bet(account_id, "4.01", limited=hint, external_id="b-2")
    _bet(account_id, "4.00", limited=hint, external_id="b-3")
    assert WalletLimits.objects.get(player=alice).used_loss_day == Decimal("10.00")
    assert wallet_get(external_id="alice", currency="EUR").balance == Decimal("90.00")


def test_a_deposit_or_staff_adjustment_is_not_betting():
    alice = make_player("alice")
    protect(alice, loss_day="10.00")
    fund(alice, "100")
    row = WalletLimits.objects.get(player=alice)
    assert (row.used_loss_day, row.used_wager_day) == (0, 0)
