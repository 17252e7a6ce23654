"""Every back-office page against a big database: the goal is none over 300 ms with 100,000 bets.

Creates (or reuses) a PostgreSQL database of its own, seeds players, bets with their ledger
transactions and entries, settlements, review items and audit rows in bulk, then requests every
admin changelist, every change page (its newest object) and the staff pages (dashboard, reversal
form, staff user) as a superuser, and prints the median time of each.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/admin_pages.py --bets 100000

`--bets 5000` checks the script quickly. The database (`tl_bench_admin_<bets>` on the server of
DATABASE_URL) is kept between runs and reseeded only with --reseed. Times are server-side (the
Django test client: URL resolution, queries, template rendering), not network; the second
column is this process's CPU time (Python and rendering, without the database), which a busy
machine disturbs less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOAL_MS = 300.0
BATCH = 5000


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def ensure_database(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def progress(label: str, done: int, total: int) -> None:
    print(f"\r  {label}: {done:,} / {total:,}", end="" if done < total else "\n", flush=True)


def seed(bets: int) -> None:
    """Bulk rows shaped like production: 1 player per 100 bets, a stake transaction (two
    entries) per bet, 60 % settled with a payout transaction (two entries) and a settlement
    step, a review item per 100 bets, an audit row per 20 bets."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from wallet import ledger
    from wallet.models import (
        Account,
        AuditLog,
        Bet,
        LedgerEntry,
        LedgerTransaction,
        Player,
        ReviewItem,
        Settlement,
    )

    user = get_user_model().objects.filter(username="bench").first()
    if user is None:
        user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    players = max(bets // 100, 10)
    now = timezone.now()
    with transaction.atomic():
        Player.objects.bulk_create([Player(external_id=f"bench-{i}", nickname=f"P{i}") for i in range(players)])
        ids = list(Player.objects.order_by("id").values_list("id", flat=True))
        Account.objects.bulk_create(
            [Account(kind=Account.Kind.PLAYER, player_id=pid, currency="EUR", balance=Decimal("100")) for pid in ids]
        )
        clearing = ledger.clearing_account_id("bench", "EUR")
    wallets = dict(Account.objects.filter(kind=Account.Kind.PLAYER).values_list("player_id", "id"))
    for start in range(0, bets, BATCH):
        count = min(BATCH, bets - start)
        with transaction.atomic():
            rows = []
            for n in range(start, start + count):
                pid = ids[n % len(ids)]
                settled = n % 10 < 6
                rows.append(
                    Bet(
                        provider="bench",
                        external_id=f"bench-bet-{n}",
                        player_id=pid,
                        currency="EUR",
                        stake=Decimal("5"),
                        stake_real=Decimal("5"),
                        payout=Decimal("10") if settled and n % 2 else Decimal("0"),
                        status=Bet.Status.SETTLED if settled else Bet.Status.OPEN,
                        result=("won" if n % 2 else "lost") if settled else "",
                    )
                )
            placed = Bet.objects.bulk_create(rows)
            txns = []
            for bet in placed:
                txns.append(
                    LedgerTransaction(
                        kind="bet",
                        currency="EUR",
                        player_id=bet.player_id,
                        provider="bench",
                        external_id=bet.external_id,
                        bet=bet,
                    )
                )
                if bet.status == Bet.Status.SETTLED:
                    txns.append(
                        LedgerTransaction(
                            kind="payout",
                            currency="EUR",
                            player_id=bet.player_id,
                            provider="bench",
                            external_id=f"{bet.external_id}-r",
                            bet=bet,
                        )
                    )
            txns = LedgerTransaction.objects.bulk_create(txns)
            entries, steps = [], []
            for txn in txns:
                amount = Decimal("5") if txn.kind == "bet" else Decimal("10")
                sign = -1 if txn.kind == "bet" else 1
                entries.append(
                    LedgerEntry(
                        transaction=txn, account_id=wallets[txn.player_id], amount=sign * amount, balance_after=100
                    )
                )
                entries.append(LedgerEntry(transaction=txn, account_id=clearing, amount=-sign * amount))
                if txn.kind == "payout":
                    steps.append(
                        Settlement(
                            bet_id=txn.bet_id,
                            player_id=txn.player_id,
                            kind="settle",
                            result="won",
                            amount=amount,
                            status_after="settled",
                            transaction=txn,
                        )
                    )
            LedgerEntry.objects.bulk_create(entries)
            steps = Settlement.objects.bulk_create(steps)
            ReviewItem.objects.bulk_create(
                [
                    ReviewItem(
                        kind="large_win",
                        player_id=s.player_id,
                        bet_id=s.bet_id,
                        settlement=s,
                        provider="bench",
                        currency="EUR",
                        amount=s.amount,
                        summary=f"bench bet pays {s.amount}",
                    )
                    for s in steps[::60]
                ]
            )
            AuditLog.objects.bulk_create(
                [
                    AuditLog(
                        actor=user, action="player.status", object_type="wallet.Player", object_id=str(b.player_id)
                    )
                    for b in placed[::20]
                ]
            )
        progress("bets seeded", start + count, bets)
    print(f"  seeded in {(timezone.now() - now).total_seconds():.0f} s; analysing…")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def pages() -> list[tuple[str, str]]:
    from django.contrib import admin
    from django.urls import NoReverseMatch, reverse

    from wallet.models import Settlement

    found = []
    for model in admin.site._registry:
        meta = model._meta
        name = f"{meta.app_label}.{meta.model_name}"
        found.append((f"{name} list", reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")))
        obj = model._default_manager.order_by("-pk").first()
        if obj is not None:
            try:
                found.append(
                    (f"{name} page", reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
                )
            except NoReverseMatch:
                pass
    step = Settlement.objects.order_by("-id").first()
    if step is not None:
        found.append(("settlement reversal form", reverse("admin:wallet_settlement_reverse", args=[step.pk])))
    found.append(
        ("review queue, open, by amount", reverse("admin:wallet_reviewitem_changelist") + "?status__exact=open&o=7")
    )
    found.append(("bets, search by id", reverse("admin:wallet_bet_changelist") + "?q=bench-bet-17"))
    found.append(("dashboard", reverse("dashboard")))
    found.append(("admin index", reverse("admin:index")))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="requests per page; the median is reported")
    parser.add_argument("--reseed", action="store_true", help="drop and seed the database again")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit("set DATABASE_URL to a PostgreSQL server (the bench creates its own database there)")
    name = f"tl_bench_admin_{args.bets}"
    if args.reseed:
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    ensure_database(base, name)
    os.environ["DATABASE_URL"] = database_url(base, name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "warning")
    os.environ.setdefault("TOUCHLINE_DEMO", "true")  # demo secrets, plain HTTP (config/security.py)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from wallet.models import Bet

    settings.ALLOWED_HOSTS = ["*"]
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    have = Bet.objects.count()
    if have < args.bets:
        print(f"seeding {args.bets:,} bets into {name} (has {have:,})…")
        seed(args.bets - have)
    client = Client()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="bench"))  # axes wants a request for a login
    results = []
    targets = pages()
    for i, (label, url) in enumerate(targets, 1):
        response = client.get(url)  # warm: templates, the query plan
        if response.status_code != 200:
            print(f"\n  {label}: HTTP {response.status_code} at {url}")
            continue
        times, cpu = [], []
        for _ in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        results.append((statistics.median(times), statistics.median(cpu), label, url))
        progress("pages timed", i, len(targets))
    print(f"\n{Bet.objects.count():,} bets; median of {args.runs} requests per page (goal: {GOAL_MS:.0f} ms)\n")
    print(f"{'wall':>8}    {'python cpu':>10}  page")
    for ms, cpu_ms, label, url in sorted(results, reverse=True):
        flag = "  OVER" if ms > GOAL_MS else ""
        print(f"{ms:8.1f} ms {cpu_ms:8.1f} ms  {label:<40} {url}{flag}")
    over = [r for r in results if r[0] > GOAL_MS]
    print(f"\n{len(results)} pages, {len(over)} over {GOAL_MS:.0f} ms")


if __name__ == "__main__":
    main()
