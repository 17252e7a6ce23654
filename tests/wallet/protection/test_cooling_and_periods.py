"""The cooling rule (a decrease at once, an increase or removal after the delay) and calendar
periods in the operator's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from tests.factories import fund, make_player
from tests.wallet.protection.conftest import protect
from wallet import conf
from wallet.errors import InvalidRequest, PermissionDenied
from wallet.models import AuditLog, ProtectionChange, WalletLimits
from wallet.services import protection
from wallet.services.backoffice import roles_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    """Moves Django's clock (timezone.now) by hand."""

    class Clock:
        now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday

        def move(self, **delta) -> None:
            self.now += timedelta(**delta)

    c = Clock()
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    return c


def test_a_decrease_applies_at_once_an_increase_after_the_delay(provider, clock, monkeypatch):
    monkeypatch.setattr(conf, "LIMIT_INCREASE_DELAY_HOURS", 24)
    alice = make_player("alice")
    fund(alice, "100")
    protect(alice, stake_per_bet="10.00")
    (decrease,) = protect(alice, stake_per_bet="5.00")
    assert decrease.status == "applied"
    assert provider.bet("b-1", "5.01").error == "LIMIT_EXCEEDED"

    (increase,) = protect(alice, stake_per_bet="20.00")
    assert increase.status == "pending" and increase.effective_at == clock.now + timedelta(hours=24)
    state = protection.protection_state(alice)
    assert state["wallets"][0]["limits"]["stake_per_bet"]["limit"] == "5.00"
    assert [(p["field"], p["from"], p["to"]) for p in state["pending"]] == [("stake_per_bet", "5.00", "20.00")]
    assert provider.bet("b-2", "5.01").error == "LIMIT_EXCEEDED"

    clock.move(hours=23, minutes=59)
    assert protection.apply_due() == 0
    assert provider.bet("b-3", "5.01").error == "LIMIT_EXCEEDED"
    clock.move(minutes=1)
    assert protection.apply_due() == 1
    assert provider.bet("b-4", "20.00").error is None
    assert ProtectionChange.objects.get(pk=increase.pk).status == "applied"


def test_a_removal_waits_too_and_a_decrease_cancels_a_pending_increase(clock):
    alice = make_player("alice")
    protect(alice, loss_day="50.00")
    (removal,) = protect(alice, loss_day=None)
    assert removal.status == "pending"
    (decrease,) = protect(alice, loss_day="40.00")
    assert ProtectionChange.objects.get(pk=removal.pk).status == "cancelled"
    assert WalletLimits.objects.get(player=alice).loss_day == Decimal("40.00")
    clock.move(hours=25)
    protection.apply_due()
    assert WalletLimits.objects.get(player=alice).loss_day == Decimal("40.00")
    assert AuditLog.objects.filter(action__startswith="protection.", object_id=str(alice.pk)).count() >= 4


def test_a_self_exclusion_is_not_shortened_through_the_api_and_a_time_out_waits(clock):
    alice = make_player("alice")
    protect(alice, self_exclusion=(clock.now + timedelta(days=180)).isoformat())
    with pytest.raises(PermissionDenied):
        protect(alice, self_exclusion=None)
    (longer,) = protect(alice, self_exclusion="indefinite")
    assert longer.status == "applied"
    protect(alice, time_out=(clock.now + timedelta(days=7)).isoformat())
    (shorter,) = protect(alice, time_out=(clock.now + timedelta(days=1)).isoformat())
    assert shorter.status == "pending"


def _staff(name: str) -> User:
    roles_ensure()
    user = User.objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Risk"))
    return User.objects.get(pk=user.pk)


def test_lifting_a_self_exclusion_early_takes_four_eyes_and_the_cooling_period(clock, provider):
    alice = make_player("alice")
    fund(alice, "10")
    protect(alice, self_exclusion=(clock.now + timedelta(days=180)).isoformat())
    risk, second = _staff("risk"), _staff("second")
    change = protection.exclusion_lift_request(player=alice, reason="court order reversed", actor=risk)
    with pytest.raises(PermissionDenied):
        protection.exclusion_lift_decide(change_id=change.pk, approve=True, note="looks right", actor=risk)
    protection.exclusion_lift_decide(change_id=change.pk, approve=True, note="checked the papers", actor=second)
    assert provider.bet("b-1", "1.00").error == "PLAYER_SELF_EXCLUDED"  # the cooling period runs
    clock.move(hours=24)
    assert protection.apply_due() == 1
    assert provider.bet("b-2", "1.00").error is None


def test_a_jurisdiction_may_forbid_lifting_a_self_exclusion_early(clock):
    alice = make_player("alice")
    protect(alice, jurisdiction="uk", self_exclusion="indefinite")
    with pytest.raises(PermissionDenied, match="does not allow"):
        protection.exclusion_lift_request(player=alice, reason="player asks nicely", actor=_staff("risk"))


def test_bad_input_names_the_field():
    with pytest.raises(InvalidRequest, match="stake_per_bet"):
        protection.parse_changes({"stake_per_bet": "10.001"}, "EUR")
    with pytest.raises(InvalidRequest, match="unknown fields: loss"):
        protection.parse_changes({"loss": "1"}, "EUR")
    with pytest.raises(InvalidRequest, match="bets_day"):
        protection.parse_changes({"bets_day": -1}, "EUR")


def test_daily_limit_rolls_over_at_the_operators_midnight_not_utcs(provider, clock, monkeypatch):
    """Sydney is UTC+11 in March: its day starts at 13:00 UTC the day before."""
    monkeypatch.setattr(conf, "REPORT_TIMEZONE", "Australia/Sydney")
    alice = make_player("alice")
    fund(alice, "100")
    clock.now = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)  # 23:30 in Sydney, Monday 2 March
    protect(alice, wager_day="10.00", bets_day=1)
    assert provider.bet("b-1", "10.00").error is None
    assert provider.bet("b-2", "0.01").error == "LIMIT_EXCEEDED"
    clock.move(minutes=29, seconds=59)  # 23:59:59 Sydney, still the same day
    assert provider.bet("b-3", "0.01").error == "LIMIT_EXCEEDED"
    clock.move(seconds=1)  # 00:00 Sydney, Tuesday; still Monday in UTC
    assert provider.bet("b-4", "10.00").error is None
    row = WalletLimits.objects.get(player=alice)
    assert (str(row.day_start), row.used_wager_day, row.used_bets_day) == ("2026-03-03", Decimal("10.00"), 1)
    # The week runs from Monday 2 March (Sydney): both bets count.
    assert row.used_wager_week == Decimal("20.00")


def test_a_first_limit_counts_the_periods_earlier_bets(provider, clock):
    alice = make_player("alice")
    fund(alice, "100")
    assert provider.bet("b-1", "30.00").error is None
    assert provider.result("r-1", "10.00").error is None
    protect(alice, loss_day="25.00")
    row = WalletLimits.objects.get(player=alice)
    assert (row.used_loss_day, row.used_wager_day, row.used_bets_day) == (Decimal("20.00"), Decimal("30.00"), 1)
    assert provider.bet("b-2", "5.01").error == "LIMIT_EXCEEDED"
    assert provider.bet("b-3", "5.00").error is None
