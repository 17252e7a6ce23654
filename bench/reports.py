"""Report timings on a database seeded by bench/reports_seed.py.

1. the nightly rollup of one day (rollup_store of the middle day, recomputed from the ledger);
2. check_reports for that day (recompute + the entry identities);
3. the 90-day report page (the admin page, rendered, as Finance; and the API's first page);
4. a provider reconciliation of --recon-lines lines (a Betsy export built from the seed).

Goals at 1,000,000 bets over 90 days: (1) < 10 s, (2) < 10 s, (3) < 300 ms, (4) < 30 s.
Each figure is the median of --repeat runs (the first, cold, run is printed too).

    python bench/reports_seed.py --bets 20000 && python bench/reports.py --repeat 3 --recon-lines 20000
    python bench/reports_seed.py && python bench/reports.py             # the full size
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reports_seed import DEFAULT_URL, setup_django  # noqa: E402


def timed(label: str, repeat: int, action) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        runs.append(time.perf_counter() - began)
    median = statistics.median(runs)
    print(f"{label:<44} median {median * 1000:9.1f} ms   first {runs[0] * 1000:9.1f} ms   ({repeat} runs)", flush=True)
    return median


def player_days() -> int:
    from django.db.models import Sum
    from django.db.models.functions import Length

    from reports.models import PlayerActivity

    either = PlayerActivity.objects.filter(money="")  # real or bonus: each player-day once
    return (either.aggregate(n=Sum(Length("players")))["n"] or 0) // 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--recon-lines", type=int, default=100_000)
    args = parser.parse_args()
    setup_django(args.database_url)

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.test.utils import setup_test_environment

    from reports import services
    from reports.models import PlayerActivity, ReconciliationRun, RollupDay
    from reports.reconciliation import services as reconciliation
    from reports.rollups import business_day
    from wallet.models import Bet, LedgerTransaction
    from wallet.services.backoffice import roles_ensure

    setup_test_environment()  # the test client on a real database, without a test database
    first_txn = LedgerTransaction.objects.filter(kind="bet").order_by("id").first()
    last_txn = LedgerTransaction.objects.filter(kind="bet").order_by("-id").first()
    if first_txn is None:
        raise SystemExit("no bets: run bench/reports_seed.py first")
    first, last = business_day(first_txn.created_at), business_day(last_txn.created_at)
    middle = first + (last - first) / 2
    print(f"{Bet.objects.count():,} bets, {LedgerTransaction.objects.count():,} transactions, days {first}..{last}")

    missing = len(services.days_between(first, last)) - RollupDay.objects.filter(day__gte=first, day__lte=last).count()
    if missing:
        began = time.perf_counter()
        services.rollups_rebuild(first, last, force=True)
        print(f"built the rollups of {missing} day(s) in {time.perf_counter() - began:.1f}s (once)")

    timed(f"rollup of one day ({middle})", args.repeat, lambda: services.rollup_store(middle, force=True))
    check = services.rollups_check(middle)
    assert check.ok, check.problems[:5]
    timed(f"check_reports for one day ({middle})", args.repeat, lambda: services.rollups_check(middle))

    roles_ensure()
    user, _ = get_user_model().objects.get_or_create(username="bench-finance", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="Finance"))
    client = Client()
    client.force_login(user)
    query = f"?from={first}&to={last}&period=day"

    def page() -> None:
        reply = client.get("/admin/reports/dailyrollup/" + query)
        assert reply.status_code == 200, reply.status_code

    timed(f"90-day report page ({(last - first).days + 1} days, by day)", args.repeat, page)
    # Weeks, months and the totals count distinct players over PlayerActivity (docs/REPORTS.md).
    print(f"player activity: {PlayerActivity.objects.count():,} rows, {player_days():,} player-days")
    for period in ("week", "month"):
        timed(
            f"90-day report page, by {period}",
            args.repeat,
            lambda period=period: client.get("/admin/reports/dailyrollup/" + query.replace("day", period, 1)),
        )
    timed(
        "90-day report page, one brand, by week",
        args.repeat,
        lambda: client.get("/admin/reports/dailyrollup/" + query.replace("day", "week", 1) + "&brand=brand-a"),
    )
    from apikeys.services import apikey_replace_for_tool

    api = Client(HTTP_AUTHORIZATION="Bearer " + apikey_replace_for_tool(name="bench reports", scopes=["reports"]))

    def api_page() -> None:
        reply = api.get("/api/operator/reports/daily/" + query)
        assert reply.status_code == 200, reply.content

    timed("90-day report API, first page", args.repeat, api_page)

    # A Betsy export of whole business days from the first, as many as make --recon-lines lines:
    # our own records of the period written out the way Betsy would (place/settle/rollback).
    from reports.reconciliation import matching
    from reports.rollups import day_bounds
    from wallet.money import format_amount

    per_day = max(1, Bet.objects.filter(provider="betsy").count() * 2 // ((last - first).days + 1))
    period_last = min(last, first + timedelta(days=max(1, args.recon_lines // per_day) - 1))
    records = matching.our_records("betsy", day_bounds(first)[0], day_bounds(period_last)[1])
    words = {"bet": "place", "settle": "settle", "resettle": "resettle", "unsettle": "unsettle", "rollback": "rollback"}
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["transactionId", "type", "userId", "currency", "amount", "createdAt"])
        for record in records.values():
            writer.writerow(
                [
                    record.transaction_id,
                    words[record.type],
                    record.player,
                    record.currency,
                    format_amount(record.amount, record.currency),
                    "",
                ]
            )
        path = Path(handle.name)
    print(f"reconciliation file: {len(records):,} lines ({first}..{period_last}), {path.stat().st_size / 1e6:.1f} MB")
    began = time.perf_counter()
    with path.open("rb") as stream:
        run = reconciliation.run_create(
            provider="betsy",
            period_from=first,
            period_to=period_last,
            filename=path.name,
            chunks=iter(lambda: stream.read(1 << 20), b""),
            actor=user,
        )
    run = reconciliation.run_execute(run.pk)
    took = time.perf_counter() - began
    assert run.status == ReconciliationRun.Status.DONE, run.error
    print(
        f"{'reconciliation of the file':<44} {took * 1000:9.1f} ms   {run.matched:,} matched,"
        f" {run.differences:,} differences"
    )
    path.unlink()


if __name__ == "__main__":
    main()
