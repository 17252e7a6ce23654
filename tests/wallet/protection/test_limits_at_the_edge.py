"""Each limit at its edge, through both providers: a bet that exactly reaches a limit is
accepted, one cent more is refused with the provider's code, and nothing moves on a refusal."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.wallet.protection.conftest import protect
from wallet import limits
from wallet.models import Bet, IdempotencyRecord, WalletLimits

pytestmark = pytest.mark.django_db

MONEY_LIMITS = [
    ("wager_day", "wager"),
    ("wager_week", "wager"),
    ("wager_month", "wager"),
    ("loss_day", "loss"),
    ("loss_week", "loss"),
    ("loss_month", "loss"),
]


def test_stake_per_bet(bettor):
    protect(bettor.player, bettor.currency, stake_per_bet="10.00")
    assert bettor.bet("b-1", "10.01") == bettor.codes["stake"]
    assert bettor.balance == Decimal("1000")
    assert bettor.bet("b-2", "10.00") is None
    assert bettor.balance == Decimal("990")
    assert bettor.bet("b-3", "10.00") is None  # per bet, not per period


@pytest.mark.parametrize(("field", "kind"), MONEY_LIMITS)
def test_period_money_limit(bettor, field, kind):
    protect(bettor.player, bettor.currency, **{field: "50.00"})
    assert bettor.bet("b-1", "30.00") is None
    assert bettor.bet("b-2", "20.01") == bettor.codes[kind]
    assert bettor.balance == Decimal("970.00")
    assert not Bet.objects.filter(external_id="b-2").exists()
    assert bettor.bet("b-3", "20.00") is None  # exactly at the limit
    assert bettor.bet("b-4", "0.01") == bettor.codes[kind]
    assert bettor.balance == Decimal("950.00")
    row = WalletLimits.objects.get(player=bettor.player)
    usage = f"used_{field}"
    assert getattr(row, usage) == Decimal("50.00")
    # The refusal is stored like any decline: a retry gets the same answer.
    assert bettor.bet("b-4", "0.01") == bettor.codes[kind]
    assert IdempotencyRecord.objects.filter(external_id="b-4", outcome="declined").count() == 1


def test_bets_per_day(bettor):
    protect(bettor.player, bettor.currency, bets_day=3)
    for i in range(3):
        assert bettor.bet(f"b-{i}", "1.00") is None
    assert bettor.bet("b-4", "1.00") == bettor.codes["count"]
    assert bettor.balance == Decimal("997.00")


def test_a_win_lowers_the_net_loss_so_more_can_be_staked(bettor):
    protect(bettor.player, bettor.currency, loss_day="50.00", wager_day="100.00")
    assert bettor.bet("b-1", "50.00") is None
    assert bettor.bet("b-2", "0.01") == bettor.codes["loss"]
    assert bettor.win("r-1", "b-1", "30.00") is None  # net loss 20
    assert bettor.bet("b-3", "30.01") == bettor.codes["loss"]
    assert bettor.bet("b-4", "30.00") is None
    # The wager (turnover) limit counts stakes only: 80 of 100 used.
    assert bettor.bet("b-5", "20.01") == bettor.codes["wager"]  # wager 100.01, checked first
    row = WalletLimits.objects.get(player=bettor.player)
    assert (row.used_wager_day, row.used_loss_day) == (Decimal("80.00"), Decimal("50.00"))


def test_time_out_and_self_exclusion_refuse_bets_until_they_end(bettor, monkeypatch):
    now = timezone.now()
    protect(bettor.player, bettor.currency, time_out=(now + timedelta(hours=1)).isoformat())
    assert bettor.bet("b-1", "1.00") == bettor.codes["excluded"]
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(hours=1, seconds=1))
    assert bettor.bet("b-2", "1.00") is None
    protect(bettor.player, bettor.currency, self_exclusion="indefinite")
    assert bettor.bet("b-3", "1.00") == bettor.codes["excluded"]
    assert bettor.balance == Decimal("999.00")


def test_verification_required_by_the_jurisdiction(bettor):
    protect(bettor.player, bettor.currency, jurisdiction="mt")
    assert bettor.bet("b-1", "1.00") == bettor.codes["not_verified"]
    protect(bettor.player, bettor.currency, verification="verified")
    assert bettor.bet("b-2", "1.00") is None
    protect(bettor.player, bettor.currency, jurisdiction="", verification="failed")
    assert bettor.bet("b-3", "1.00") == bettor.codes["not_verified"]  # a failed check refuses anywhere


def test_minimum_age_on_the_birthday(bettor):
    today = limits.operator_today()
    eighteen = date(today.year - 18, today.month, min(today.day, 28))
    if eighteen > date(today.year - 18, today.month, today.day):  # pragma: no cover - 29-31st
        eighteen = date(today.year - 18, today.month, today.day)
    protect(bettor.player, bettor.currency, date_of_birth=(eighteen + timedelta(days=1)).isoformat())
    assert bettor.bet("b-1", "1.00") == bettor.codes["under_age"]
    protect(bettor.player, bettor.currency, date_of_birth=eighteen.isoformat())
    assert bettor.bet("b-2", "1.00") is None
    protect(bettor.player, bettor.currency, jurisdiction="ee")  # minimum age 21, verified required
    assert bettor.bet("b-3", "1.00") == bettor.codes["under_age"]


def test_results_and_rollbacks_always_pass_and_move_the_loss(bettor):
    protect(bettor.player, bettor.currency, loss_day="40.00")
    assert bettor.bet("b-1", "20.00") is None
    assert bettor.bet("b-2", "20.00") is None
    protect(bettor.player, bettor.currency, self_exclusion="indefinite", stake_per_bet="1.00", loss_day="0")
    # Excluded, every limit passed: the provider's results and rollbacks still go through.
    assert bettor.win("r-1", "b-1", "25.00") is None
    assert bettor.rollback("rb-2", "b-2", "20.00") is None
    assert bettor.balance == Decimal("1005.00")
    row = WalletLimits.objects.get(player=bettor.player)
    assert row.used_loss_day == Decimal("-5.00")  # 40 staked, 25 won, 20 refunded
    assert row.used_wager_day == Decimal("40.00")
    assert bettor.bet("b-3", "0.01") == bettor.codes["excluded"]
