#!/usr/bin/env python3
"""Ledger throughput: the wallet service layer in-process vs pgbench on the same SQL.

    .venv/bin/python bench/ledger.py [--seconds 15] [--workers 4] [--clients 8] [--accounts 10000]

Creates (drops first) the database `tl_bench_ledger` on the local PostgreSQL, migrates it,
seeds N funded players, then runs, for the same duration each:
  1. service: `--workers` processes calling the real bet path (idempotency claim, player
     lookup, one statement for the guarded balance UPDATE, bet row, transaction and entries,
     stored response) —
     exactly what a wallet callback does below HTTP;
  2. pgbench (`--clients` clients) running the same statements as plain SQL;
  3. pgbench on the design's reference transaction (insert ON CONFLICT + two entries +
     guarded update), for comparison with DESIGN.md's figures.
Prints postings/s for each and the service/pgbench ratio, then runs check_ledger.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
DB = "tl_bench_ledger"


def psql(sql: str, db: str = "postgres") -> str:
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"psql failed on {db}: {result.stderr.strip()}")
    return result.stdout


def setup_database(accounts: int) -> None:
    print(f"-- creating {DB} and seeding {accounts} funded players", flush=True)
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    psql(f"CREATE DATABASE {DB}")
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB}"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    # One seed deposit transaction funding every account, so the ledger balances from the start.
    psql(
        f"""
        INSERT INTO wallet_player (external_id, status, is_test, nickname, country, created_at, updated_at,
                                   verification, verified_by, jurisdiction)
          SELECT 'p' || g, 'active', true, '', '', now(), now(), 'unverified', '', '' FROM generate_series(1, {accounts}) g;
        INSERT INTO wallet_account (kind, player_id, provider, currency, balance, bonus_balance, debt_balance, created_at, limited)
          SELECT 'player', id, '', 'EUR', 1000000, 0, 0, now(), false FROM wallet_player;
        INSERT INTO wallet_account (kind, player_id, provider, currency, balance, bonus_balance, debt_balance, created_at,
                                    limited)
          VALUES ('cash', NULL, '', 'EUR', 0, 0, 0, now(), false), ('clearing', NULL, 'bench', 'EUR', 0, 0, 0, now(), false),
                 ('clearing', NULL, 'pgbench', 'EUR', 0, 0, 0, now(), false);
        INSERT INTO wallet_ledgertransaction (kind, currency, provider, external_id, created_at, reason)
          VALUES ('deposit', 'EUR', 'operator', 'bench-seed', now(), 'benchmark seed');
        INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount, balance_after)
          SELECT (SELECT id FROM wallet_ledgertransaction), id, 'real', 1000000, 1000000
          FROM wallet_account WHERE kind = 'player';
        INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount)
          SELECT (SELECT id FROM wallet_ledgertransaction), (SELECT id FROM wallet_account WHERE kind = 'cash'),
                 'real', -1000000::numeric * {accounts};
        """,
        DB,
    )
    # Statistics only for the tables that hold data. ANALYZE on an empty table records "0 rows":
    # the plans PostgreSQL caches for the foreign-key checks then seq-scan wallet_bet and
    # friends while they grow during the run (measured: 680 instead of 2,800 bets/s).
    psql("VACUUM ANALYZE wallet_player, wallet_account, wallet_ledgerentry", DB)


def _service_worker(worker: int, seconds: float, accounts: int, counter, ready, start) -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("TOUCHLINE_DEMO", "true")  # demo secrets, plain HTTP (config/security.py)
    # The ledger alone: the Fast Track outbox adds its own statements to every bet and is
    # measured by bench/crm_export.py and the HTTP benchmarks.
    os.environ["FASTTRACK_OUTBOX_ENABLED"] = "false"
    sys.path.insert(0, str(ROOT))
    import random
    from decimal import Decimal

    import django

    django.setup()
    import json

    from wallet.api.errors import render_wallet_error
    from wallet.selectors import wallet_get
    from wallet.services.idempotency import Outcome, RequestKey, execute_once
    from wallet.services.postings import bet_place_apply

    rng = random.Random(worker)
    amount = Decimal("1.00")
    done = 0
    ready.wait()
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        external = f"p{rng.randint(1, accounts)}"
        tx_id = f"w{worker}-{done}"

        def apply(external=external, tx_id=tx_id) -> Outcome:
            wallet = wallet_get(external_id=external, currency="EUR")
            placed = bet_place_apply(provider="bench", external_id=tx_id, wallet=wallet, amount=amount)
            body = json.dumps({"error": None, "transaction_id": str(placed.transaction_id)})
            return Outcome(200, body, placed.transaction_id)

        execute_once(
            key=RequestKey("bench", tx_id, "tx"),
            content={"user": external, "amount": amount},
            apply=apply,
            render_error=render_wallet_error,
        )
        done += 1
    with counter.get_lock():
        counter.value += done


def run_service(workers: int, seconds: float, accounts: int) -> float:
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    ready = ctx.Barrier(workers + 1)
    start = ctx.Barrier(workers + 1)
    procs = [
        ctx.Process(target=_service_worker, args=(w, seconds, accounts, counter, ready, start)) for w in range(workers)
    ]
    for p in procs:
        p.start()
    ready.wait()
    began = time.perf_counter()
    start.wait()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - began
    return counter.value / elapsed


EQUIVALENT_SQL = """\\set aid random(1, {accounts})
\\set rid random(1, 2000000000)
BEGIN;
WITH claim AS (INSERT INTO wallet_idempotencyrecord (provider, external_id, operation, fingerprint, outcome, status_code, response, error_code, created_at) VALUES ('pgbench', 'c' || :client_id || '-' || :rid, 'tx', 'f', 'pending', 200, '', '', now()) ON CONFLICT (provider, external_id, operation) DO NOTHING RETURNING id) SELECT (SELECT id FROM claim) AS rec, r.fingerprint, r.outcome, r.status_code, r.response, r.transaction_id FROM (SELECT 1) AS one LEFT JOIN wallet_idempotencyrecord r ON r.provider = 'pgbench' AND r.external_id = 'c' || :client_id || '-' || :rid AND r.operation = 'tx' \\gset
SELECT p.id, p.status, a.id, a.balance, a.bonus_balance, a.debt_balance, p.external_id, p.is_test FROM wallet_player p LEFT JOIN wallet_account a ON a.player_id = p.id AND a.currency = 'EUR' AND a.kind = 'player' WHERE p.external_id = 'p' || :aid;
WITH moved AS (UPDATE wallet_account SET balance = balance + -1.00 WHERE id = :aid AND balance + -1.00 >= 0 RETURNING balance, balance + bonus_balance AS spendable), bet AS (INSERT INTO wallet_bet (provider, external_id, player_id, currency, stake, stake_real, stake_bonus, payout, status, result, bet_type, odds, selections, placed_at, settled_at) SELECT 'pgbench', 'b' || :rec, :aid, 'EUR', 1, 1, 0, 0, 'open', '', 'single', NULL, '[]', now(), NULL WHERE EXISTS (SELECT 1 FROM moved) RETURNING id), txn AS (INSERT INTO wallet_ledgertransaction (kind, currency, player_id, provider, external_id, bet_id, reverses_id, created_by_id, reason, created_at) SELECT 'bet', 'EUR', :aid, 'pgbench', 'x', (SELECT id FROM bet), NULL, NULL, '', now() WHERE EXISTS (SELECT 1 FROM moved) RETURNING id), entries AS (INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount, balance_after) SELECT txn.id, v.* FROM txn, (SELECT :aid::bigint, 'real'::varchar, -1.00::numeric, (SELECT balance FROM moved) UNION ALL SELECT {clearing}::bigint, 'real'::varchar, 1.00::numeric, NULL::numeric) AS v) SELECT (SELECT id FROM txn) AS txn, (SELECT balance FROM moved) AS bal, (SELECT spendable FROM moved), (SELECT id FROM bet) AS bet \\gset
UPDATE wallet_idempotencyrecord SET outcome = 'applied', status_code = 200, response = '{{"error": null}}', transaction_id = :txn, error_code = '' WHERE id = :rec;
END;
"""

REFERENCE_SQL = """\\set aid random(1, {accounts})
\\set rid random(1, 2000000000)
BEGIN;
INSERT INTO wallet_idempotencyrecord (provider, external_id, operation, fingerprint, outcome, status_code, response, error_code, created_at) VALUES ('ref', 'c' || :client_id || '-' || :rid, 'tx', 'f', 'applied', 200, '', '', now()) ON CONFLICT (provider, external_id, operation) DO NOTHING;
INSERT INTO wallet_ledgerentry (transaction_id, account_id, bucket, amount) VALUES (1, :aid, 'real', -1.00), (1, {clearing}, 'real', 1.00);
UPDATE wallet_account SET balance = balance - 1.00 WHERE id = :aid AND balance >= 1.00;
END;
"""


def run_pgbench(script: str, clients: int, seconds: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
        path = handle.name
    out = subprocess.run(
        [
            "pgbench",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
            "-f",
            path,
            DB,
        ],
        capture_output=True,
        text=True,
    )
    os.unlink(path)
    if out.returncode != 0:
        print(out.stdout, out.stderr, file=sys.stderr)
        raise SystemExit("pgbench failed")
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    return float(match.group(1)) if match else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=4, help="service-layer processes")
    parser.add_argument("--clients", type=int, default=8, help="pgbench clients")
    parser.add_argument("--accounts", type=int, default=10000)
    args = parser.parse_args()

    setup_database(args.accounts)
    # Account ids: players 1..N in insertion order on a fresh database, then the house accounts.
    clearing = int(psql("SELECT id FROM wallet_account WHERE kind = 'clearing' AND provider = 'pgbench'", DB))
    first_player = int(psql("SELECT MIN(id) FROM wallet_account WHERE kind = 'player'", DB))
    if first_player != 1:
        raise SystemExit("expected player accounts to start at id 1 on a fresh database")

    # Steady state, as in production: tables hold data and statistics describe it. A short
    # warm-up, ANALYZE, then fresh processes (fresh connections, fresh cached plans).
    # VACUUM too, so autovacuum does not wake up (and take a core) in the middle of the run.
    print("-- warm-up: 10 s of bets, then VACUUM ANALYZE", flush=True)
    run_service(args.workers, 10, args.accounts)
    psql("VACUUM ANALYZE", DB)
    psql("CHECKPOINT", DB)

    print(f"-- service layer: {args.workers} processes, {args.seconds} s", flush=True)
    service = run_service(args.workers, args.seconds, args.accounts)
    print(f"   {service:,.0f} bets/s", flush=True)

    print(f"-- pgbench, same statements: {args.clients} clients, {args.seconds} s", flush=True)
    equivalent = run_pgbench(
        EQUIVALENT_SQL.format(accounts=args.accounts, clearing=clearing), args.clients, args.seconds
    )
    print(f"   {equivalent:,.0f} tps", flush=True)

    print(f"-- pgbench, DESIGN.md reference transaction: {args.clients} clients, {args.seconds} s", flush=True)
    reference = run_pgbench(REFERENCE_SQL.format(accounts=args.accounts, clearing=clearing), args.clients, args.seconds)
    print(f"   {reference:,.0f} tps", flush=True)

    print("\nresult")
    print(f"  service layer (bet via execute_once)  {service:10,.0f} postings/s")
    print(f"  pgbench, same SQL                     {equivalent:10,.0f} tps")
    print(f"  pgbench, reference transaction        {reference:10,.0f} tps")
    print(f"  ratio service / same-SQL pgbench      {service / equivalent:10.0%}")
    print(f"  ratio service / reference pgbench     {service / reference:10.0%}")
    # Both pgbench scripts post balanced entries that match their balance updates (the
    # reference one files them under the seed transaction), so the whole ledger must check.
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB}"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check_ledger"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    print("  check_ledger after all runs:", "OK" if result.returncode == 0 else "FAILED\n" + result.stderr[-2000:])


if __name__ == "__main__":
    main()
