#!/usr/bin/env python3
"""What player protection costs a wallet callback, in CPU of the Python process.

    .venv/bin/python bench/protection_cost.py [--rounds 1000] [--repeat 3] [--players 50]
                                             [--base 23a2f53 | --no-base]

Variants, each measured in its own process, in alternation (base, none, limits, base, …):
  - base:   the code before protection (git revision --base, exported with `git archive` into a
            temporary directory, with its own database), players without limits;
  - none:   this code, players without limits (the common case: should cost nothing);
  - limits: this code, every player with every limit set (high enough never to refuse), so each
            bet and result also moves the limit counters.

Each worker creates its players through the services (EUR wallets for IGPX, USD for Betsy),
warms up, then runs `--rounds` rounds of four callbacks through `config.wsgi.application`
(IGPX bet + result, Betsy place + settle), timing them with `time.process_time()`: CPU of
this process only, which is what the 2 cores run out of (docs/benchmarks/igpx.md), and is far
less disturbed by other load than wall time. Prints ms of CPU per callback per variant (the
median of the repeats) and the ratios. Goal: limits/none and none/base below 1.10.

The databases are `tl_bench_protection` and `tl_bench_protection_base` on the local
PostgreSQL (dropped and created). `--rounds 10 --repeat 1` checks that it runs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"
IGPX_SECRET = "bench-igpx-secret"
BETSY_SECRET = "bench-betsy-secret"
DEFAULT_BASE = "23a2f53"  # the last commit before player protection


def _env(tree: Path, db: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"{PG}/{db}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TOUCHLINE_DEMO": "true",  # no production secrets needed (the secrets below are set)
            "IGPX_SECURITY_HASH": IGPX_SECRET,
            "BETSY_PARTNER_SECRET": BETSY_SECRET,
            "FASTTRACK_TRANSPORT": "off",
            "LOG_LEVEL": "error",
            "DEBUG": "false",
            "PYTHONPATH": str(tree),
        }
    )
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    return env


def _create(tree: Path, db: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db}")
    print(f"-- migrating {db} ({tree})", flush=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=tree, env=_env(tree, db), check=True)


def _drop(db: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def _export(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    venv = ROOT / ".venv"
    if venv.exists() and not (into / ".venv").exists():
        (into / ".venv").symlink_to(venv.resolve())
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1000, help="rounds of 4 callbacks per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--players", type=int, default=50)
    parser.add_argument("--base", default=DEFAULT_BASE, help="git revision of the code before protection")
    parser.add_argument("--no-base", action="store_true", help="compare none vs limits only")
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count instructions instead (valgrind; deterministic, ~50x slower): each variant runs"
        " --rounds and 4x --rounds under callgrind, the difference divided by the extra callbacks",
    )
    parser.add_argument("--worker", choices=["base", "none", "limits"], help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_work(args.worker, args.rounds, args.players, args.warmup)))
        return

    with tempfile.TemporaryDirectory(prefix="tl-bench-base-") as tmp:
        trees = {"none": ROOT, "limits": ROOT}
        dbs = {"none": "tl_bench_protection", "limits": "tl_bench_protection"}
        if not args.no_base:
            trees["base"] = _export(args.base, Path(tmp))
            dbs["base"] = "tl_bench_protection_base"
        for variant in dict.fromkeys(("base", "none")) if not args.no_base else ("none",):
            _create(trees[variant], dbs[variant])
        order = [v for v in ("base", "none", "limits") if v in trees]
        results: dict[str, list[float]] = {v: [] for v in order}
        try:
            if args.callgrind:
                _callgrind(order, trees, dbs, args)
                return
            for repeat in range(args.repeat):
                for variant in order:
                    figures = _run_worker(variant, trees, dbs, args.rounds, args.players)
                    results[variant].append(figures["ms_per_callback"])
                    print(
                        f"repeat {repeat + 1}/{args.repeat} {variant:>6}: {figures['ms_per_callback']:.3f} ms CPU"
                        f" per callback ({figures['callbacks']} callbacks, {figures['refused']} refused)",
                        flush=True,
                    )
        finally:
            for db in set(dbs.values()):
                _drop(db)
    _report("ms of CPU per callback (median of repeats)", {v: statistics.median(r) for v, r in results.items()}, ".3f")


def _report(title: str, figures: dict[str, float], style: str) -> None:
    print(f"\n{title}:")
    for variant, figure in figures.items():
        print(f"  {variant:>6}: {figure:{style}}")
    if "base" in figures:
        print(f"  none / base   = {figures['none'] / figures['base']:.3f}  (protection code, player without limits)")
        print(f"  limits / base = {figures['limits'] / figures['base']:.3f}")
    print(f"  limits / none = {figures['limits'] / figures['none']:.3f}  (a player with every limit set)")


def _run_worker(
    variant: str, trees: dict, dbs: dict, rounds: int, players: int, *, wrap: list[str] | None = None, warmup: int = 0
) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", variant, "--rounds", str(rounds)]
    command += ["--players", str(players)] + (["--warmup", str(warmup)] if warmup else [])
    out = subprocess.run(
        (wrap or []) + command,
        cwd=trees[variant],
        env=_env(trees[variant], dbs[variant]),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"worker {variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _callgrind(order: list[str], trees: dict, dbs: dict, args: argparse.Namespace) -> None:
    """Instructions per callback: (I(4R rounds) - I(R rounds)) / (3R x 4), so start-up, seeding
    and warm-up cancel out. Deterministic to a fraction of a percent, whatever the load."""
    per_callback: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tl-callgrind-") as out_dir:
        for variant in order:
            totals = []
            for rounds in (args.rounds, 4 * args.rounds):
                out_file = Path(out_dir) / f"{variant}-{rounds}.out"
                wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"]
                _run_worker(variant, trees, dbs, rounds, args.players, wrap=wrap, warmup=20)
                totals.append(_callgrind_total(out_file))
                print(f"{variant:>6} {rounds:>4} rounds: {totals[-1]:,} instructions", flush=True)
            per_callback[variant] = (totals[1] - totals[0]) / (3 * args.rounds * 4)
    _report("instructions per callback (callgrind)", per_callback, ",.0f")


def _callgrind_total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no instruction total in {path}")


# --- Worker: runs inside the tree being measured ------------------------------------------------


def _work(variant: str, rounds: int, players: int, warmup: int | None = None) -> dict[str, object]:
    import django

    django.setup()
    from decimal import Decimal

    # From this script's directory (first on sys.path), not the measured tree: --base's older
    # tree has no bench/_wsgi.py.
    from _wsgi import call as wsgi_call
    from django.db import transaction

    from config.wsgi import application
    from wallet.betsy import tokens
    from wallet.betsy.simulator import Betsy, WireReply, WireRequest
    from wallet.igpx.protocol import sign
    from wallet.selectors import wallet_get
    from wallet.services.players import player_create
    from wallet.services.transfers import deposit_apply

    def call(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return wsgi_call(application, method, path, body, headers)

    def betsy_send(request: WireRequest) -> WireReply:
        code, content = call(request.method, request.path, request.body, request.headers)
        return WireReply(code, content, {})

    betsy = Betsy(betsy_send, BETSY_SECRET)
    names = []
    for i in range(players):
        name = f"{variant}-{os.getpid()}-{i}"
        player = player_create(external_id=name, currencies=["EUR", "USD"])
        with transaction.atomic():
            for currency in ("EUR", "USD"):
                deposit_apply(
                    wallet=wallet_get(external_id=name, currency=currency),
                    amount=Decimal("1000000"),
                    reference=f"seed-{name}-{currency}",
                    actor_id=None,
                )
        if variant == "limits":
            from wallet.services import protection

            high = "100000000.00"
            changes = {f: high for f in ("stake_per_bet", "wager_day", "wager_week", "wager_month")}
            changes |= {f: high for f in ("loss_day", "loss_week", "loss_month")}
            changes["bets_day"] = 1_000_000_000
            for currency in ("EUR", "USD"):
                protection.protection_change(
                    player=player,
                    changes=protection.parse_changes(changes, currency),
                    currency=currency,
                    reason="benchmark limits",
                )
        names.append((name, tokens.issue(player_id=player.pk, external_id=name, currency="USD")))

    refused = 0
    run = f"{variant}-{os.getpid()}"  # ids unique across the workers sharing a database

    def round_(n: int) -> int:
        name, token = names[n % len(names)]
        bad = 0
        bet = json.dumps(
            {"transaction_id": f"{run}-b-{n}", "action": "bet", "user_id": name, "currency": "EUR", "amount": "2.50"}
        ).encode()
        won = "2.50" if n % 2 else "0"
        result = json.dumps(
            {"transaction_id": f"{run}-r-{n}", "action": "result", "user_id": name, "currency": "EUR", "amount": won}
        ).encode()
        for body in (bet, result):
            code, content = call("POST", "/api/igpx/transaction", body, {"X-Security-Hash": sign(body, IGPX_SECRET)})
            bad += code != 200 or json.loads(content)["error"] is not None
        reply = betsy.place(f"{run}-t-{n}", name, "USD", Decimal("2.50"), token)
        bad += reply.status != 200
        reply = betsy.settle(f"{run}-t-{n}", name, "USD", Decimal(won), "won" if n % 2 else "lost")
        bad += reply.status != 200
        return bad

    warmup = warmup or min(100, max(rounds // 5, 5))
    for n in range(warmup):
        refused += round_(n)
    started = time.process_time()
    for n in range(warmup, warmup + rounds):
        refused += round_(n)
    spent = time.process_time() - started
    return {"ms_per_callback": spent * 1000 / (rounds * 4), "callbacks": rounds * 4, "refused": refused}


if __name__ == "__main__":
    main()
