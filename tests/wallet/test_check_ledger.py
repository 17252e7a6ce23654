"""check_ledger must catch each kind of corruption (tests that corrupt on purpose opt out of
the autouse invariant check)."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tests.factories import fund, make_api_key, make_player
from wallet.invariants import check_ledger

pytestmark = pytest.mark.django_db


def corrupt(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_clean_ledger_passes(capsys):
    alice = make_player("alice")
    fund(alice, "10", bonus="5")
    call_command("check_ledger")
    assert "ledger OK" in capsys.readouterr().out


@pytest.mark.no_ledger_check
@pytest.mark.parametrize(
    ("sql", "check"),
    [
        ("UPDATE wallet_account SET balance = balance + 1 WHERE kind = 'player'", "balances_match_entries"),
        (
            "UPDATE wallet_ledgerentry SET amount = amount + 1 WHERE id = (SELECT MIN(id) FROM wallet_ledgerentry)",
            "transactions_balance",
        ),
        (
            "UPDATE wallet_ledgerentry SET amount = amount + 0.001 WHERE id = (SELECT MIN(id) FROM wallet_ledgerentry)",
            "currency_precision",
        ),
        ("UPDATE wallet_account SET currency = 'USD' WHERE kind = 'cash'", "entries_match_currency"),
        ("UPDATE wallet_idempotencyrecord SET outcome = 'pending'", "no_pending_requests"),
    ],
)
def test_each_corruption_is_reported(sql, check):
    alice = make_player("alice")
    fund(alice, "10")
    from wallet.api.errors import render_wallet_error
    from wallet.services.transfers import DEPOSIT, transfer_execute

    transfer_execute(
        direction=DEPOSIT,
        player_external_id="alice",
        currency="EUR",
        amount=Decimal("1"),
        reference="r",
        caller=make_api_key()[0],
        render=lambda r: (201, "{}"),
        render_error=render_wallet_error,
    )
    corrupt(sql)
    report = check_ledger()
    assert check in {v.check for v in report.violations}
    with pytest.raises(CommandError) as excinfo:
        call_command("check_ledger")
    assert excinfo.value.returncode == 1
