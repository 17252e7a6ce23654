"""64 concurrent bets of one player against a loss or wager limit, on real PostgreSQL: the
demand is above the limit, and the limit is reached exactly, never passed by a cent."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.factories import balance, fund, make_player
from tests.wallet.protection.conftest import protect
from tests.wallet.test_concurrency import THREADS, run_concurrently
from wallet.igpx import protocol
from wallet.igpx.services import transaction_process
from wallet.models import Bet, WalletLimits

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]


@pytest.mark.parametrize("field", ["loss_day", "wager_week"])
def test_64_concurrent_bets_never_pass_the_limit(field):
    alice = make_player("alice")
    fund(alice, "1000")
    protect(alice, **{field: "100.00"})
    stakes = [Decimal("3.00") if i % 2 else Decimal("7.00") for i in range(THREADS)]  # 320 asked for

    def bet(i: int) -> str | None:
        body = transaction_process(request=protocol.Transaction(f"b-{i}", protocol.BET, "alice", "EUR", stakes[i]))
        return json.loads(body)["error"]

    errors = run_concurrently(bet)
    assert set(errors) == {None, "LIMIT_EXCEEDED"}
    accepted = sum((stakes[i] for i, e in enumerate(errors) if e is None), Decimal(0))
    assert accepted <= Decimal("100.00")
    # Usage only grows, so a refused bet still does not fit at the end: none was refused wrongly.
    assert Decimal("100.00") - accepted < min(stakes[i] for i, e in enumerate(errors) if e is not None)
    assert sum(b.stake for b in Bet.objects.all()) == accepted
    assert balance(alice) == Decimal("1000") - accepted
    row = WalletLimits.objects.get(player=alice)
    assert getattr(row, f"used_{field}") == accepted
