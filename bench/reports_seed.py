"""Seed a PostgreSQL database with N sportsbook bets over D days of consistent ledger data, fast.

Everything is written by set-based SQL (INSERT … SELECT FROM generate_series) in one
transaction: players with one wallet each (EUR, every third USD), a deposit and a bonus grant per
player, then per bet (alternately IGPX and Betsy; Betsy's spread over the brands "", brand-a
and brand-b) its stake transaction (10% partly bonus) and, by a fixed pseudo-random outcome, a
payout (45%, IGPX as an unlinked result), a lost settlement (45%), a rollback refunding the
stake (5%) or nothing (open, 5%). Settlements arrive 1 to 48
hours after the bet, so many land on a later business day (late events). Account balances are
then set to the sum of their entries, so `check_ledger` holds on the result.

    python bench/reports_seed.py --bets 20000 --days 90            # a quick check
    python bench/reports_seed.py                                   # 1,000,000 bets over 90 days

The database (default tl_bench_reports) is dropped and re-created, then migrated.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from crm_export import recreate_database, setup_django  # noqa: E402  (the same fresh-database helpers)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/tl_bench_reports"


# %(n)s bets, %(p)s players, %(days)s days ending at %(end)s (UTC midnight). Ids are assigned by
# formula: bet k has stake transaction k, payout N+k, refund 2N+k; deposits and bonus grants
# follow. Outcome r = (k * 7919) % 100.
SEED_SQL = [
    """CREATE TEMP TABLE b AS
    SELECT k,
           CASE WHEN k %% 2 = 1 THEN 'igpx' ELSE 'betsy' END AS provider,
           1 + (k %% %(p)s) AS player,
           CASE WHEN (1 + (k %% %(p)s)) %% 3 = 0 THEN 'USD' ELSE 'EUR' END AS currency,
           (1 + (k %% 50))::numeric + 0.50 AS stake,
           CASE WHEN k %% 10 = 0 THEN LEAST(5.00, (1 + (k %% 50))::numeric + 0.50) ELSE 0 END::numeric AS bonus,
           %(start)s::timestamptz + ((k - 1) * (%(days)s * 86400.0 / %(n)s)) * interval '1 second' AS placed,
           (k::bigint * 7919) %% 100 AS r
    FROM generate_series(1, %(n)s) AS k""",
    """ALTER TABLE b ADD COLUMN settled timestamptz""",
    """UPDATE b SET settled = placed + (1 + k %% 48) * interval '1 hour'""",
    # Outcomes whose settlement would fall after the end stay open.
    """UPDATE b SET r = 99 WHERE settled >= %(end)s::timestamptz""",
    """INSERT INTO wallet_player (id, external_id, status, is_test, nickname, country, created_at, updated_at,
       verification, verified_by, jurisdiction)
    SELECT p, 'p' || p, 'active', false, '', '', %(before)s, %(before)s, 'unverified', '', '' FROM generate_series(1, %(p)s) AS p""",
    """INSERT INTO wallet_account (id, kind, player_id, provider, currency, balance, bonus_balance, debt_balance,
       created_at, limited)
    SELECT p, 'player', p, '', CASE WHEN p %% 3 = 0 THEN 'USD' ELSE 'EUR' END, 0, 0, 0, %(before)s, false
    FROM generate_series(1, %(p)s) AS p""",
    """INSERT INTO wallet_account (id, kind, player_id, provider, currency, balance, bonus_balance, debt_balance,
       created_at, limited)
    SELECT %(p)s + row_number() OVER (), kind, NULL, provider, currency, 0, 0, 0, %(before)s, false
    FROM (VALUES ('clearing', 'igpx', 'EUR'), ('clearing', 'igpx', 'USD'), ('clearing', 'betsy', 'EUR'),
                 ('clearing', 'betsy', 'USD'), ('cash', '', 'EUR'), ('cash', '', 'USD'), ('bonus', '', 'EUR'),
                 ('bonus', '', 'USD')) AS h(kind, provider, currency)""",
    """CREATE TEMP TABLE house AS SELECT id, kind, provider, currency FROM wallet_account WHERE player_id IS NULL""",
    """INSERT INTO wallet_bet (id, provider, external_id, player_id, brand, currency, stake, stake_real, stake_bonus,
       payout, status, result, bet_type, odds, selections, placed_at, settled_at)
    SELECT k, provider, 'b' || k, player,
           CASE WHEN provider = 'betsy' AND k %% 3 = 1 THEN 'brand-a' WHEN provider = 'betsy' AND k %% 3 = 2
                THEN 'brand-b' ELSE '' END,
           currency, stake, stake - bonus, bonus,
           CASE WHEN provider = 'betsy' AND r < 45 THEN stake * 2 ELSE 0 END,
           CASE WHEN r >= 90 AND r < 95 THEN 'rolled_back' WHEN provider = 'betsy' AND r < 90 THEN 'settled'
                ELSE 'open' END,
           CASE WHEN provider = 'betsy' AND r < 45 THEN 'won' WHEN provider = 'betsy' AND r < 90 THEN 'lost'
                ELSE '' END,
           'single', 2.0, '[]'::jsonb, placed,
           CASE WHEN provider = 'betsy' AND r < 95 THEN settled END
    FROM b""",
    # Deposits and bonus grants, a day before the first bet.
    """INSERT INTO wallet_ledgertransaction (id, kind, currency, player_id, provider, external_id, bet_id, reverses_id,
       created_at, created_by_id, reason)
    SELECT 3 * %(n)s + p, 'deposit', a.currency, p, 'operator', 'dep-' || p, NULL, NULL, %(before)s, NULL, ''
    FROM generate_series(1, %(p)s) AS p JOIN wallet_account a ON a.id = p""",
    """INSERT INTO wallet_ledgertransaction (id, kind, currency, player_id, provider, external_id, bet_id, reverses_id,
       created_at, created_by_id, reason)
    SELECT 3 * %(n)s + %(p)s + p, 'adjustment', a.currency, p, '', '', NULL, NULL, %(before)s, NULL, 'bonus grant'
    FROM generate_series(1, %(p)s) AS p JOIN wallet_account a ON a.id = p""",
    """INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount)
    SELECT 3 * %(n)s + p, p, 'real', 1000000 FROM generate_series(1, %(p)s) AS p
    UNION ALL SELECT 3 * %(n)s + p, h.id, 'real', -1000000 FROM generate_series(1, %(p)s) AS p
      JOIN wallet_account a ON a.id = p JOIN house h ON h.kind = 'cash' AND h.currency = a.currency
    UNION ALL SELECT 3 * %(n)s + %(p)s + p, p, 'bonus', 1000 FROM generate_series(1, %(p)s) AS p
    UNION ALL SELECT 3 * %(n)s + %(p)s + p, h.id, 'real', -1000 FROM generate_series(1, %(p)s) AS p
      JOIN wallet_account a ON a.id = p JOIN house h ON h.kind = 'bonus' AND h.currency = a.currency""",
    # Stakes.
    """INSERT INTO wallet_ledgertransaction (id, kind, currency, player_id, provider, external_id, bet_id, reverses_id,
       created_at, created_by_id, reason)
    SELECT k, 'bet', currency, player, provider, 'b' || k, k, NULL, placed, NULL, '' FROM b""",
    """INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount)
    SELECT k, player, 'real', -(stake - bonus) FROM b
    UNION ALL SELECT k, player, 'bonus', -bonus FROM b WHERE bonus > 0
    UNION ALL SELECT k, h.id, 'real', stake FROM b
      JOIN house h ON h.kind = 'clearing' AND h.provider = b.provider AND h.currency = b.currency""",
    # Wins: Betsy linked to the bet, IGPX an unlinked result.
    """INSERT INTO wallet_ledgertransaction (id, kind, currency, player_id, provider, external_id, bet_id, reverses_id,
       created_at, created_by_id, reason)
    SELECT %(n)s + k, 'payout', currency, player, provider,
           CASE WHEN provider = 'igpx' THEN 'r' || k ELSE 'b' || k END,
           CASE WHEN provider = 'betsy' THEN k END, NULL, settled, NULL, ''
    FROM b WHERE r < 45""",
    """INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount)
    SELECT %(n)s + k, player, 'real', stake * 2 FROM b WHERE r < 45
    UNION ALL SELECT %(n)s + k, h.id, 'real', -stake * 2 FROM b
      JOIN house h ON h.kind = 'clearing' AND h.provider = b.provider AND h.currency = b.currency WHERE r < 45""",
    # Rollbacks: the stake refunded, real and bonus as debited.
    """INSERT INTO wallet_ledgertransaction (id, kind, currency, player_id, provider, external_id, bet_id, reverses_id,
       created_at, created_by_id, reason)
    SELECT 2 * %(n)s + k, 'reversal', currency, player, provider,
           CASE WHEN provider = 'igpx' THEN 'rb' || k ELSE 'b' || k END, k, k, settled, NULL, 'rollback'
    FROM b WHERE r >= 90 AND r < 95""",
    """INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount)
    SELECT 2 * %(n)s + k, player, 'real', stake - bonus FROM b WHERE r >= 90 AND r < 95
    UNION ALL SELECT 2 * %(n)s + k, player, 'bonus', bonus FROM b WHERE r >= 90 AND r < 95 AND bonus > 0
    UNION ALL SELECT 2 * %(n)s + k, h.id, 'real', -stake FROM b
      JOIN house h ON h.kind = 'clearing' AND h.provider = b.provider AND h.currency = b.currency
      WHERE r >= 90 AND r < 95""",
    # Settlement history.
    """INSERT INTO wallet_settlement (bet_id, player_id, kind, result, amount, previous_amount, status_after,
       external_id, transaction_id, created_at, created_by_id)
    SELECT CASE WHEN provider = 'betsy' THEN k END, player,
           CASE WHEN provider = 'betsy' THEN 'settle' ELSE 'result' END,
           CASE WHEN r < 45 THEN 'won' ELSE 'lost' END,
           CASE WHEN r < 45 THEN stake * 2 ELSE 0 END, 0,
           CASE WHEN provider = 'betsy' THEN 'settled' ELSE '' END,
           CASE WHEN provider = 'igpx' THEN 'r' || k ELSE 'b' || k END,
           CASE WHEN r < 45 THEN %(n)s + k END, settled, NULL
    FROM b WHERE r < 90""",
    """INSERT INTO wallet_settlement (bet_id, player_id, kind, result, amount, previous_amount, status_after,
       external_id, transaction_id, created_at, created_by_id)
    SELECT k, player, 'rollback', '', 0, 0, 'rolled_back', CASE WHEN provider = 'igpx' THEN 'rb' || k ELSE 'b' || k END,
           2 * %(n)s + k, settled, NULL
    FROM b WHERE r >= 90 AND r < 95""",
    # Running balances = the sum of their entries (what check_ledger proves).
    """UPDATE wallet_account a SET balance = s.real, bonus_balance = s.bonus
    FROM (SELECT account_id, SUM(amount) FILTER (WHERE bucket = 'real') AS real,
                 COALESCE(SUM(amount) FILTER (WHERE bucket = 'bonus'), 0) AS bonus
          FROM wallet_ledgerentry e JOIN wallet_account x ON x.id = e.account_id AND x.kind = 'player'
          GROUP BY account_id) s
    WHERE a.id = s.account_id""",
]
SEQUENCES = ("wallet_player", "wallet_account", "wallet_bet", "wallet_ledgertransaction", "wallet_ledgerentry")


def seed(*, bets: int, players: int, days: int) -> dict[str, float]:
    from datetime import UTC, datetime, time, timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    today = timezone.now().date()
    end = datetime.combine(today, time.min, tzinfo=UTC)
    start = end - timedelta(days=days)
    params = {
        "n": bets,
        "p": players,
        "days": days,
        "start": start,
        "end": end,
        "before": start - timedelta(days=1),
    }
    timings: dict[str, float] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        for i, sql in enumerate(SEED_SQL, start=1):
            began = time_now()
            cursor.execute(sql, params)
            timings[f"step {i:02d}"] = time_now() - began
            print(
                f"  [{i:2d}/{len(SEED_SQL)}] {timings[f'step {i:02d}']:6.1f}s  {' '.join(sql.split()[:4])}", flush=True
            )
        for table in SEQUENCES:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    with connection.cursor() as cursor:
        began = time_now()
        cursor.execute("ANALYZE")
        timings["analyze"] = time_now() - began
    return timings


def time_now() -> float:
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--bets", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--players", type=int, default=None, help="default: bets / 50")
    args = parser.parse_args()
    players = args.players or max(args.bets // 50, 10)
    recreate_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command

    print(f"migrating {args.database_url} …", flush=True)
    call_command("migrate", verbosity=0)
    print(f"seeding {args.bets:,} bets over {args.days} days for {players:,} players …", flush=True)
    began = time_now()
    seed(bets=args.bets, players=players, days=args.days)
    print(f"seeded in {time_now() - began:.1f}s", flush=True)
    from wallet.invariants import check_ledger

    report = check_ledger(limit=3)
    print("check_ledger:", "OK" if report.ok else [f"{v.check}: {v.detail}" for v in report.violations])


if __name__ == "__main__":
    main()
