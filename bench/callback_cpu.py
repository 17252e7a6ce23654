#!/usr/bin/env python
"""Server CPU per wallet callback, IGPX against Betsy, in one process and one run.

    .venv/bin/python bench/callback_cpu.py [--rounds 1000] [--block 1] [--players 50] [--repeat 3]
    .venv/bin/python bench/callback_cpu.py --callgrind [--rounds 100]   # instructions (valgrind)
    .venv/bin/python bench/callback_cpu.py --rounds 20 --repeat 1 --players 4   # does it run?

The goal of issue #18: Betsy's server CPU per callback at most 1.1 x IGPX's. A worker process:
1. makes its players through the operator API with an API key (create with EUR and USD wallets,
   deposit, launch a Betsy session for its token), each request passed to the WSGI app;
2. warms up, then runs interleaved blocks of --block rounds: IGPX bet + result, then Betsy
   place + settle, half of the results/settles paying (by default one round of each in turn:
   this VM's speed swings within a fraction of a second, and blocks of 50 rounds, ~150 ms each,
   gave run ratios from 1.02 to 1.21 where single rounds gave 1.08 to 1.11 in the same quarter
   hour, docs/benchmarks/betsy.md, session 13); every request goes straight to
   `config.wsgi.application` (what a granian worker calls: no HTTP, no network between load
   and server) and is timed with `time.process_time()`, the CPU of this process only, which is
   what the 2 cores run out of and far less disturbed by other load than wall time;
3. prints ms of CPU per callback for IGPX and Betsy, per kind, and the ratio Betsy / IGPX.
The parent repeats that --repeat times, one fresh process each, and prints the medians.

--callgrind counts instructions instead (deterministic to a fraction of a percent, whatever the
load; ~50x slower): for each provider alone, a worker runs --rounds and 4 x --rounds under
callgrind; the difference divided by the extra callbacks is its instructions per callback, so
start-up, player set-up and warm-up cancel out. Callgrind counts the whole process, so the
client's share (building and signing each request, reading the answer: Betsy's simulator signs
much larger bodies than the IGPX client) is measured the same way with the server replaced by a
canned answer (`--stub`) and subtracted: what is printed is the server's instructions.

PostgreSQL's own CPU is not in these figures (bench/wallet_http*.py count it); the Fast Track
transport is off (outbox rows are written, as in production; the kick is bench/wallet_http*.py's).
The database is tl_bench_callback_cpu on the local PostgreSQL (dropped and created).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IGPX_SECRET = "bench-igpx-secret"
BETSY_SECRET = "bench-betsy-secret"
KINDS = {"igpx": ("igpx bet", "igpx result"), "betsy": ("betsy place", "betsy settle")}
GOAL = 1.10


def _env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "IGPX_SECURITY_HASH": IGPX_SECRET,
            "BETSY_PARTNER_SECRET": BETSY_SECRET,
            "FASTTRACK_TRANSPORT": "off",
            "TOUCHLINE_DEMO": "true",  # demo secrets for what the bench does not set; plain HTTP
            "DEBUG": "false",
            "LOG_LEVEL": "error",
            "PYTHONPATH": str(ROOT),
        }
    )
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1000, help="rounds per provider (2 callbacks each)")
    parser.add_argument("--block", type=int, default=1, help="rounds of one provider before switching")
    parser.add_argument("--players", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind instead")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tl_bench_callback_cpu")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--only", choices=sorted(KINDS), help="--callgrind: count one provider (ratio not printed)")
    parser.add_argument("--callgrind-dir", default="", help="keep callgrind's output files here (callgrind_annotate)")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)  # comma list of providers
    parser.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stub", action="store_true", help=argparse.SUPPRESS)  # canned answers: the client alone
    args = parser.parse_args()
    if args.worker:
        figures = work(args.worker.split(","), args.rounds, args.block, args.players, args.warmup, stub=args.stub)
        print(json.dumps(figures))
        return

    from bench._http_db import migrated_database

    env = _env(args.database_url)
    with migrated_database(args.database_url, env, keep=args.keep_db):
        if args.callgrind:
            callgrind(args, env)
        else:
            measure(args, env)


def run_worker(args: argparse.Namespace, env: dict[str, str], providers: str, rounds: int,
               wrap: list[str] | None = None, warmup: int = 0, stub: bool = False) -> dict:  # fmt: skip
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", providers, "--rounds", str(rounds)]
    command += ["--block", str(args.block), "--players", str(args.players), "--warmup", str(warmup)]
    command += ["--stub"] if stub else []
    out = subprocess.run((wrap or []) + command, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"worker {providers} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace, env: dict[str, str]) -> None:
    runs = []
    for repeat in range(args.repeat):
        figures = run_worker(args, env, "igpx,betsy", args.rounds)
        runs.append(figures)
        print(
            f"run {repeat + 1}/{args.repeat}: IGPX {figures['igpx']:.3f} ms, Betsy {figures['betsy']:.3f} ms CPU per"
            f" callback = {figures['betsy'] / figures['igpx']:.2f}x ({figures['callbacks']} callbacks,"
            f" {figures['refused']} refused)",
            flush=True,
        )
    print(f"\nms of server CPU per callback (median of {len(runs)} runs, {args.rounds} rounds per provider each):")
    for provider, kinds in KINDS.items():
        print(f"  {provider:6s} {statistics.median(r[provider] for r in runs):.3f}")
        for kind in kinds:
            print(f"    {kind:13s} {statistics.median(r['kinds'][kind] for r in runs):.3f}")
    ratio = statistics.median(r["betsy"] / r["igpx"] for r in runs)
    print(f"  Betsy / IGPX = {ratio:.3f}  (goal <= {GOAL:.2f}: {'met' if ratio <= GOAL else 'not met'})")
    if any(r["refused"] for r in runs):
        raise SystemExit("some callbacks were refused: the figures do not measure the success path")


def callgrind(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Instructions per callback: (I(4R rounds) - I(R rounds)) / (3R x 2), per provider, for the
    whole process and for the client alone (--stub); the server's is the difference."""
    counted: dict[tuple[str, bool], float] = {}
    # One string-hash seed for every worker: dict and set layouts (and so instructions) then do
    # not vary between the R and the 4R process of a difference.
    env = {**env, "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory(prefix="tl-callgrind-") as temporary:
        out_dir = args.callgrind_dir or temporary
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        for provider in [args.only] if args.only else KINDS:
            for stub in (False, True):
                totals = []
                for rounds in (args.rounds, 4 * args.rounds):
                    out_file = Path(out_dir) / f"{provider}-{rounds}-{stub}.out"
                    wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"]
                    run_worker(args, env, provider, rounds, wrap=wrap, warmup=20, stub=stub)
                    totals.append(callgrind_total(out_file))
                    what = "client alone" if stub else "whole process"
                    print(f"  {provider:6s} {rounds:5d} rounds, {what}: {totals[-1]:,} instructions", flush=True)
                counted[provider, stub] = (totals[1] - totals[0]) / (3 * args.rounds * 2)
    per_callback = {provider: counted[provider, False] - counted[provider, True] for provider, _ in counted}
    print("\ninstructions per callback (callgrind): whole process, client alone, server")
    for provider, value in per_callback.items():
        print(f"  {provider:6s} {counted[provider, False]:>12,.0f} {counted[provider, True]:>12,.0f} {value:>12,.0f}")
    if args.only:
        return
    ratio = per_callback["betsy"] / per_callback["igpx"]
    print(f"  Betsy / IGPX = {ratio:.3f}  (goal <= {GOAL:.2f}: {'met' if ratio <= GOAL else 'not met'})")


def callgrind_total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no instruction total in {path}")


# --- Worker: one process, in-process requests ---------------------------------------------------


def work(
    providers: list[str], rounds: int, block: int, players: int, warmup: int = 0, stub: bool = False
) -> dict[str, object]:
    import django

    django.setup()
    from apikeys.services import tool_key
    from bench._capture import call
    from wallet.betsy.simulator import Betsy, WireReply, WireRequest
    from wallet.igpx.protocol import sign

    auth = {"Authorization": f"Bearer {tool_key('callback-cpu')}"}

    def operator(path: str, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        status, answer = call("POST", f"/api/operator/{path}", body, auth)
        if status not in (200, 201):
            raise SystemExit(f"operator API {path}: HTTP {status} {answer[:300]!r}")
        return json.loads(answer)

    run = f"cpu{os.getpid()}"
    names = []
    for i in range(players):
        name = f"{run}-{i}"
        operator("players/", {"external_id": name, "currencies": ["EUR", "USD"], "nickname": name})
        for currency in ("EUR", "USD"):
            operator(f"players/{name}/deposits/", {"reference": f"{name}-{currency}", "currency": currency,
                                                   "amount": "100000"})  # fmt: skip
        names.append((name, operator(f"players/{name}/sessions/betsy/", {"currency": "USD"})["token"]))

    spent = {kind: 0.0 for kinds in KINDS.values() for kind in kinds}
    refused = 0

    def timed(kind: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        started = time.process_time()
        # --stub: the server's part replaced by a canned success, so that a run counts the client alone.
        status, answer = canned[path] if stub else call(method, path, body, headers)
        spent[kind] += time.process_time() - started
        return status, answer

    def igpx(kind: str, body: bytes) -> bool:
        status, answer = timed(
            kind, "POST", "/api/igpx/transaction", body, {"X-Security-Hash": sign(body, IGPX_SECRET)}
        )
        return status == 200 and json.loads(answer)["error"] is None

    def betsy_send(request: WireRequest) -> WireReply:
        kind = "betsy place" if request.method == "POST" else "betsy settle"
        status, answer = timed(kind, request.method, request.path, request.body, request.headers)
        return WireReply(status, answer, {})

    betsy = Betsy(betsy_send, BETSY_SECRET)
    canned = {
        "/api/igpx/transaction": (200, b'{"balance":"100.00","error":null,"transaction_id":"1"}'),
        "/api/betsy/payment/bet": (200, b'{"transactionId":"1","transactionTime":"2026-12-06T06:00:00.000Z"}'),
    }

    def igpx_round(n: int) -> int:
        name, _ = names[n % len(names)]
        won = "2.50" if n % 2 else "0"
        base = {"user_id": name, "currency": "EUR"}
        bet = {"transaction_id": f"{run}-b-{n}", "action": "bet", "amount": "2.50", **base}
        result = {"transaction_id": f"{run}-r-{n}", "action": "result", "amount": won, **base}
        return (not igpx("igpx bet", json.dumps(bet).encode())) + (not igpx("igpx result", json.dumps(result).encode()))

    def betsy_round(n: int) -> int:
        name, token = names[n % len(names)]
        won = n % 2 == 1
        bad = betsy.place(f"{run}-t-{n}", name, "USD", Decimal("2.50"), token).status != 200
        reply = betsy.settle(f"{run}-t-{n}", name, "USD", Decimal("5.00" if won else "0"), "won" if won else "lost")
        return bad + (reply.status != 200)

    rounds_of = {"igpx": igpx_round, "betsy": betsy_round}
    warmup = warmup or min(100, max(rounds // 5, 5))
    for n in range(warmup):
        for provider in providers:
            refused += rounds_of[provider](n)
    spent = dict.fromkeys(spent, 0.0)
    n = warmup
    while n < warmup + rounds:
        size = min(block, warmup + rounds - n)
        for provider in providers:  # interleaved blocks: a drift in the machine's speed hits both
            for k in range(n, n + size):
                refused += rounds_of[provider](k)
        n += size
    result: dict[str, object] = {"callbacks": rounds * 2 * len(providers), "refused": refused}
    result["kinds"] = {kind: spent[kind] * 1000 / rounds for p in providers for kind in KINDS[p]}
    for provider in providers:
        result[provider] = sum(spent[kind] for kind in KINDS[provider]) * 1000 / (rounds * 2)
    return result


if __name__ == "__main__":
    main()
