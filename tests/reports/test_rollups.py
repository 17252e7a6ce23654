"""Daily rollups from both providers' callbacks, across a business-day boundary in Auckland.

Business days are Pacific/Auckland (UTC+13): 2026-11-02 and 2026-11-03 local. Every figure below
is computed by hand from the story, then `check_reports` must find the stored rows equal to the
ledger.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from reports import services
from reports.models import DailyRollup, PlayerActivity
from reports.rollups import pack_players, unpack_players
from reports.tables import ReportFilter, build_report
from tests.reports.conftest import DAY1, DAY2, at, ok
from wallet.models import AuditLog, LedgerEntry, Player

D = Decimal


def rows(day: date) -> dict[tuple[str, str, str, str, str], dict]:
    """Each stored row's non-zero figures (an open liability of None, "not available", shows)."""
    return {
        (r.provider, r.brand, r.origin, r.currency, r.money): {
            k: v
            for k, v in r.__dict__.items()
            if k not in ("_state", "id", "day", "provider", "brand", "origin", "currency", "money") and v != 0
        }
        for r in DailyRollup.objects.filter(day=day)
    }


def test_each_figure_of_two_days_by_hand(story):
    services.rollups_rebuild(DAY1, DAY2)

    assert rows(DAY1) == {
        ("igpx", "", "provider", "EUR", "real"): {
            "bets_count": 4,
            "unique_players": 1,
            "stakes": D("25"),  # 10 + 5 + 4 + 6
            "payouts": D("30"),
            "refunds": D("4"),
            "ggr": D("-9"),  # 25 - 30 - 4
            "open_liability": None,  # not available: IGPX results name no bet
        },
        ("betsy", "", "provider", "USD", "real"): {
            "bets_count": 3,
            "unique_players": 2,
            "stakes": D("40"),  # dave 10, carol 20 real of 25, carol 10
            "payouts": D("75"),  # 25 + 50
            "resettle_adjustments": D("-10"),  # 50 -> 40
            "ggr": D("-25"),  # 40 - 75 + 10
            "open_liability": D("10"),  # c-b2
        },
        ("betsy", "", "provider", "USD", "bonus"): {
            "bets_count": 1,
            "unique_players": 1,
            "stakes": D("5"),
            "ggr": D("5"),
        },
    }
    assert rows(DAY2) == {
        ("igpx", "", "provider", "EUR", "real"): {
            "payouts": D("12"),
            "rollbacks": D("-30"),
            "ggr": D("18"),  # -12 + 30
            "open_liability": None,
        },
        ("betsy", "", "provider", "USD", "real"): {
            "bets_count": 1,
            "unique_players": 1,
            "stakes": D("30"),
            "payouts": D("30"),
            "unsettle_adjustments": D("-30"),
            "refunds": D("20"),
            "rollbacks": D("-40"),  # 20 from the balance, 20 as debt
            "new_debt": D("20"),
            "ggr": D("50"),  # 30 - 30 + 30 - 20 + 40
            "open_liability": D("40"),  # c-b3 30 real + d-b4 10 reopened by staff
        },
        ("betsy", "", "provider", "USD", "bonus"): {
            "bets_count": 1,
            "unique_players": 1,
            "stakes": D("5"),
            "refunds": D("5"),
            "open_liability": D("5"),  # c-b3 bonus part
        },
        # d-b5, placed with subPartnerId "vip" and lost: the brand's own row.
        ("betsy", "vip", "provider", "USD", "real"): {
            "bets_count": 1,
            "unique_players": 1,
            "stakes": D("8"),
            "ggr": D("8"),
        },
        ("betsy", "", "staff", "USD", "real"): {"staff_reversals": D("-25"), "ggr": D("25")},
        ("staff", "", "staff", "USD", "real"): {"staff_adjustments": D("7")},
    }
    # The players behind each day's unique players, per (provider, brand, currency, money);
    # money "" holds those of either money.
    assert activity(DAY1) == {
        ("igpx", "", "EUR", "real"): ["alice"],
        ("igpx", "", "EUR", ""): ["alice"],
        ("betsy", "", "USD", "real"): ["carol", "dave"],
        ("betsy", "", "USD", "bonus"): ["carol"],
        ("betsy", "", "USD", ""): ["carol", "dave"],
    }
    assert activity(DAY2) == {
        ("betsy", "", "USD", "real"): ["carol"],
        ("betsy", "", "USD", "bonus"): ["carol"],
        ("betsy", "", "USD", ""): ["carol"],
        ("betsy", "vip", "USD", "real"): ["dave"],
        ("betsy", "vip", "USD", ""): ["dave"],
    }
    call_command("check_reports", "--from", "2026-11-01", "--to", "2026-11-03")


def activity(day: date) -> dict[tuple[str, str, str, str], list[str]]:
    names = dict(Player.objects.values_list("id", "external_id"))
    return {
        (a.provider, a.brand, a.currency, a.money): sorted(names[i] for i in unpack_players(a.players))
        for a in PlayerActivity.objects.filter(day=day)
    }


def test_ggr_equals_the_clearing_accounts(story):
    services.rollups_rebuild(DAY1, DAY2)
    for day in (DAY1, DAY2):
        for provider in ("igpx", "betsy"):
            ggr = sum(r.ggr for r in DailyRollup.objects.filter(day=day, provider=provider))
            from reports.rollups import day_bounds

            start, end = day_bounds(day)
            clearing = sum(
                e.amount
                for e in LedgerEntry.objects.filter(
                    account__kind="clearing",
                    account__provider=provider,
                    transaction__created_at__gte=start,
                    transaction__created_at__lt=end,
                )
            )
            assert ggr == clearing


def test_check_reports_fails_on_a_cent(story):
    services.rollups_rebuild(DAY1, DAY2)
    row = DailyRollup.objects.get(day=DAY2, provider="betsy", brand="", origin="provider", money="real")
    DailyRollup.objects.filter(pk=row.pk).update(payouts=row.payouts + D("0.01"))
    with pytest.raises(CommandError, match="1 day"):
        call_command("check_reports", "--day", DAY2.isoformat())
    assert services.rollups_check(DAY1).ok
    problems = services.rollups_check(DAY2).problems
    assert any("payouts: stored 30.01" in p for p in problems), problems


def test_a_late_event_lands_on_its_own_day_and_closed_days_are_never_rewritten(story, betsy):
    services.rollups_rebuild(DAY1, DAY2)
    before = {DAY1: rows(DAY1), DAY2: rows(DAY2)}
    with at("2026-11-06 12:00"):
        ok(betsy.settle("c-b3", "carol", "USD", 70, "won"))  # placed on day 2, settled three days later
    services.rollups_rebuild(DAY1, date(2026, 11, 6))
    assert {DAY1: rows(DAY1), DAY2: rows(DAY2)} == before
    late = rows(date(2026, 11, 6))[("betsy", "", "provider", "USD", "real")]
    assert late == {"payouts": D("70"), "ggr": D("-70"), "open_liability": D("10")}  # d-b4 still open
    assert rows(date(2026, 11, 5))[("betsy", "", "provider", "USD", "real")] == {"open_liability": D("40")}
    call_command("check_reports", "--from", "2026-11-02", "--to", "2026-11-06")

    # Someone alters the ledger under a closed day: the rebuild refuses, --force is audited.
    entry = LedgerEntry.objects.get(transaction__external_id="i-b1", account__kind="player")
    LedgerEntry.objects.filter(pk=entry.pk).update(amount=entry.amount - 1)
    try:
        with pytest.raises(services.ClosedDayChanged, match="closed"):
            services.rollup_store(DAY1)
        with pytest.raises(CommandError, match="--force"):
            call_command("rebuild_reports", "--day", DAY1.isoformat())
        call_command("rebuild_reports", "--day", DAY1.isoformat(), "--force")
        assert AuditLog.objects.filter(action="reports.rewrite_closed_day").count() == 1
        assert rows(DAY1)[("igpx", "", "provider", "EUR", "real")]["stakes"] == D("26")
    finally:
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=entry.amount)


def test_beat_job_computes_today_and_unclosed_days(db, report_zone, monkeypatch):
    from datetime import datetime, time

    from django.utils import timezone

    from reports.models import RollupDay
    from reports.tasks import refresh_rollups

    # Noon in the report's zone: yesterday ended twelve hours ago. (With the clock's time the
    # test failed for the half hour after midnight in Auckland, when yesterday is still open.)
    noon = datetime.combine(timezone.now().astimezone(report_zone).date(), time(12), tzinfo=report_zone)
    monkeypatch.setattr(timezone, "now", lambda: noon)
    done = refresh_rollups()
    assert len(done) == 2  # yesterday (closed: it ended hours ago) and today (open)
    assert RollupDay.objects.filter(closed=True).count() == 1
    assert RollupDay.objects.filter(closed=False).count() == 1


def test_test_players_are_left_out(story):
    from decimal import Decimal as Dec

    from django.db import transaction

    from tests.factories import fund, make_player
    from wallet.selectors import wallet_get
    from wallet.services.postings import bet_place_apply

    services.rollups_rebuild(DAY1, DAY1)
    before = rows(DAY1)
    with at("2026-11-02 12:00"):
        tester = make_player("tester", currencies=("USD",), is_test=True)
        fund(tester, "100", "USD")
        with transaction.atomic():
            bet_place_apply(
                provider="betsy",
                external_id="t-1",
                wallet=wallet_get(external_id="tester", currency="USD"),
                amount=Dec(9),
            )
    services.rollups_rebuild(DAY1, DAY2)  # DAY1 is closed: a change would be refused
    assert rows(DAY1) == before
    call_command("check_reports", "--from", "2026-11-02", "--to", "2026-11-03")


def test_rebuild_command_shows_progress(story, capsys):
    call_command("rebuild_reports", "--from", "2026-11-01", "--to", "2026-11-03")
    out = capsys.readouterr()
    assert "3/3" in out.err and "rebuilt 3 day(s) 2026-11-01..2026-11-03" in out.out
    with pytest.raises(CommandError, match="not a date"):
        call_command("rebuild_reports", "--day", "yesterday")


def test_business_days_follow_the_zone_through_daylight_saving(settings):
    from datetime import UTC

    from reports.rollups import business_day, day_bounds

    settings.REPORT_TIMEZONE = "Europe/Malta"
    start, end = day_bounds(date(2026, 3, 29))  # clocks go forward: a 23-hour day
    # Same-zone subtraction is wall-clock time in Python: compare instants.
    assert (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() == 23 * 3600
    assert start.isoformat() == "2026-03-29T00:00:00+01:00"
    assert business_day(end) == date(2026, 3, 30)
    settings.REPORT_TIMEZONE = "Mars/Olympus"
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="REPORT_TIMEZONE"):
        day_bounds(date(2026, 3, 29))


def test_check_reports_fails_on_a_tampered_activity_row(story):
    """A player slipped into a day's activity (the rollup's count untouched), then the count
    bumped to match: either way the check names the key."""
    services.rollups_rebuild(DAY1, DAY2)
    alice = Player.objects.get(external_id="alice")
    row = PlayerActivity.objects.get(day=DAY1, provider="betsy", brand="", money="real")
    PlayerActivity.objects.filter(pk=row.pk).update(players=pack_players([*unpack_players(row.players), alice.pk]))
    problems = services.rollups_check(DAY1).problems
    assert any(p.startswith("activity betsy/-/USD/real: 3 players stored, 2 in the ledger") for p in problems), problems
    assert any("activity betsy/-/USD/real: 3 players stored, the rollup says 2" in p for p in problems), problems
    DailyRollup.objects.filter(day=DAY1, provider="betsy", origin="provider", money="real").update(unique_players=3)
    problems = services.rollups_check(DAY1).problems
    assert any(p.startswith("activity betsy/-/USD/real: 3 players stored, 2 in the ledger") for p in problems)
    assert not any("the rollup says" in p for p in problems)  # the two agree with each other, not the ledger
    with pytest.raises(CommandError, match="1 day"):
        call_command("check_reports", "--from", DAY1.isoformat(), "--to", DAY2.isoformat())
    # A closed day's activity is not silently rewritten either.
    with pytest.raises(services.ClosedDayChanged, match="2 differences"):
        services.rollup_store(DAY1)


def test_unique_players_over_a_week_count_each_player_once(story):
    """Carol bets on both days (real and bonus), dave on both days (two brands): the week and
    the range count people, not player-days."""
    services.rollups_rebuild(DAY1, DAY2)
    week = build_report(ReportFilter(first=DAY1, last=DAY2, period="week"))
    players = {(line.provider, line.brand, line.currency): line.values["unique_players"] for line in week.lines}
    # betsy/(none): day 1 real {carol, dave} + bonus {carol}, day 2 real {carol} + bonus {carol}:
    # 5 player-days, 2 players.
    assert players == {
        ("betsy", "", "USD"): 2,
        ("betsy", "vip", "USD"): 1,
        ("igpx", "", "EUR"): 1,
        ("staff", "", "USD"): 0,
    }
    assert {t.currency: t.values["unique_players"] for t in week.totals} == {"EUR": 1, "USD": 2}
    by_day = build_report(ReportFilter(first=DAY1, last=DAY2, period="day"))
    assert {t.currency: t.values["unique_players"] for t in by_day.totals} == {"EUR": 1, "USD": 2}
    day2 = {(ln.provider, ln.brand): ln.values["unique_players"] for ln in by_day.lines if ln.period == DAY2}
    assert day2 == {("betsy", ""): 1, ("betsy", "vip"): 1, ("igpx", ""): 0, ("staff", ""): 0}
    real = build_report(ReportFilter(first=DAY1, last=DAY2, period="month", money="real"))
    assert [(ln.brand, ln.values["unique_players"]) for ln in real.lines if ln.provider == "betsy"] == [
        ("", 2),
        ("vip", 1),
    ]
    vip = build_report(ReportFilter(first=DAY1, last=DAY2, period="week", brand="vip"))
    assert [(ln.brand, ln.values["stakes"]) for ln in vip.lines] == [("vip", D("8"))]
    assert vip.totals[0].values["unique_players"] == 1
    none = build_report(ReportFilter(first=DAY1, last=DAY2, period="week", brand="(none)", provider="betsy"))
    assert [ln.brand for ln in none.lines] == [""]
    staff_only = build_report(ReportFilter(first=DAY1, last=DAY2, period="week", origin="staff"))
    assert all(t.values["unique_players"] == 0 for t in staff_only.totals)


def test_a_closed_day_from_before_player_activity_gets_it_filled_in(story):
    """Days computed before PlayerActivity existed have none: a rebuild adds it without --force
    (no figure changes), and the week then counts those days' players too."""
    services.rollups_rebuild(DAY1, DAY2)
    before = activity(DAY1)
    PlayerActivity.objects.filter(day=DAY1).delete()
    stored = services.rollup_store(DAY1)
    assert stored.closed and activity(DAY1) == before
    assert services.rollups_check(DAY1).ok
