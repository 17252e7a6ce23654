#!/usr/bin/env python
"""Where a callback's server CPU goes, piece by piece, in place: IGPX bet and result against
Betsy place and settle, in bench/callback_cpu.py's worker (same players, same interleaved rounds,
each request passed straight to `config.wsgi.application`).

    .venv/bin/python bench/callback_phases.py [--rounds 2000]
    .venv/bin/python bench/callback_phases.py --wrap wallet.betsy.protocol:_signature,wallet.igpx.protocol:sign
    .venv/bin/python bench/callback_phases.py --rounds 50 --players 5   # does it run?

Each piece named by --wrap (`module:function`) is replaced by a wrapper that reads
`time.process_time()` around it while a provider's callback runs; what is printed is microseconds
of this process's CPU a callback, per kind, and the difference between the kinds that do the
same job (settle − result, place − bet). A micro-benchmark of the same function in a loop reads
far less (a JWS that takes 2.6 µs in a loop takes ~11 µs here): in place the function runs with
the caches the rest of the request left, which is what the callback pays.

The clock read costs ~1.3 µs here (a system call), so each figure has its wrapper's own reads, and
those of the wrapped pieces it calls, taken off (the cost is measured at start). A function called
through a reference taken at import time (a handler table, `from x import f` in the caller) is not
seen through its module: wrap the name where the caller looks it up. The totals are
bench/callback_cpu.py's figure for the same rounds, with the wrappers' cost in them.

PostgreSQL's CPU is not counted (the waits are not this process's CPU). The database is
tl_bench_callback_phases on the local PostgreSQL (dropped and created).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.callback_cpu import KINDS, _env  # noqa: E402

PIECES = (
    # the request's own steps, both providers
    "wallet.services.idempotency:fingerprint",
    "wallet.services.idempotency:_claim_and_read",
    "wallet.services.idempotency:_store",
    "wallet.events:publish",
    # the money step
    "wallet.services.postings:credit_apply",
    "wallet.services.postings:_apply_step",
    "wallet.services.postings:_record_step",
    "wallet.igpx.services:_result_apply",
    "wallet.igpx.services:_bet_apply",
    "wallet.betsy.locked:read_locked",
    # each protocol's parse and signatures
    "wallet.igpx.protocol:parse_transaction",
    "wallet.igpx.protocol:sign",
    "wallet.betsy.fastparse:parse_bet",
    "wallet.betsy.protocol:_signature",
)
PAIRS = (("betsy place", "igpx bet"), ("betsy settle", "igpx result"))


def _kind(method: str, path: str, body: bytes) -> str | None:
    if path.startswith("/api/igpx/"):
        return "igpx result" if b'"result"' in body else "igpx bet"
    if path == "/api/betsy/payment/bet":
        return "betsy place" if method == "POST" else "betsy settle"
    return None  # the players' set-up through the operator API


def _clock_cost(clock: Callable[[], float], reads: int = 20000) -> float:
    started = clock()
    for _ in range(reads):
        clock()
    return (clock() - started) / reads


class Pieces:
    """CPU time by (kind, piece), each piece's own clock reads and those of the wrapped pieces it
    calls taken off. `clock`: time.process_time, or a fake in the tests."""

    def __init__(self, clock: Callable[[], float] = time.process_time, read_cost: float | None = None) -> None:
        self.clock = clock
        self.read_cost = _clock_cost(clock) if read_cost is None else read_cost
        self.spent: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.kind: str | None = None  # the callback being timed; None: the wrappers only pass through
        self.reads = 0  # clock reads by the wrappers so far

    def timed(self, label: str, inner: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            kind = self.kind
            if kind is None:
                return inner(*args, **kwargs)
            reads, started = self.reads, self.clock()
            try:
                return inner(*args, **kwargs)
            finally:
                self._add(kind, label, self.clock() - started, self.reads - reads)
                self.reads += 2

        return timed

    def request(self, kind: str, send: Callable[[], Any]) -> Any:
        """One callback of `kind`, timed whole as TOTAL."""
        self.kind, reads, started = kind, self.reads, self.clock()
        try:
            return send()
        finally:
            self._add(kind, "TOTAL", self.clock() - started, self.reads - reads)
            self.kind = None

    def _add(self, kind: str, label: str, took: float, nested_reads: int) -> None:
        # Half of each of its own two reads falls inside the interval: one read, plus every read
        # of the wrapped pieces it called.
        self.spent[kind, label] += took - (nested_reads + 1) * self.read_cost
        self.calls[kind, label] += 1

    def figures(self) -> dict[str, dict[str, list[float]]]:
        """µs a callback and calls a callback, by kind and piece."""
        counted = {kind: n for (kind, label), n in self.calls.items() if label == "TOTAL"}
        return {
            kind: {
                label: [self.spent[k, label] * 1e6 / n, self.calls[k, label] / n]
                for (k, label) in self.spent
                if k == kind
            }
            for kind, n in counted.items()
        }


def wrap(pieces: Pieces, target: str) -> None:
    """Replace `module:function` by its timed wrapper, where callers look it up."""
    module_name, _, name = target.partition(":")
    module = importlib.import_module(module_name)
    setattr(module, name, pieces.timed(f"{module_name.rsplit('.', 1)[-1]}.{name}", getattr(module, name)))


def work(targets: list[str], rounds: int, players: int, warmup: int) -> dict[str, Any]:
    import django

    django.setup()
    import bench._capture as capture
    from bench import callback_cpu

    pieces = Pieces()
    for target in targets:
        wrap(pieces, target)
    request = capture.call
    skip = {"left": warmup * 4}  # the warm-up's callbacks (two a round, both providers) are not counted

    def call(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        kind = _kind(method, path, body)
        if kind is not None and skip["left"] > 0:
            skip["left"] -= 1
            kind = None
        if kind is None:
            return request(method, path, body, headers)
        return pieces.request(kind, lambda: request(method, path, body, headers))

    capture.call = call
    callback_cpu.work(["igpx", "betsy"], rounds, 1, players, warmup)
    figures = pieces.figures()
    callbacks = {kind: round(pieces.calls[kind, "TOTAL"]) for kind in figures}
    return {"clock_read_us": pieces.read_cost * 1e6, "callbacks": callbacks, "kinds": figures}


def report(figures: dict[str, Any]) -> None:
    kinds = figures["kinds"]
    print(f"clock read {figures['clock_read_us']:.2f} µs (taken off); callbacks counted {figures['callbacks']}")
    for kind in (k for provider in KINDS.values() for k in provider):
        pieces = sorted(kinds.get(kind, {}).items(), key=lambda item: -item[1][0])
        print(f"\n{kind}: µs of server CPU a callback (calls a callback)")
        for label, (us, per) in pieces:
            print(f"  {label:36s} {us:8.1f}  ({per:.2f})")
    for betsy, igpx in PAIRS:
        b, i = kinds.get(betsy, {}), kinds.get(igpx, {})
        print(f"\n{betsy} − {igpx}, µs a callback (pieces only one of them runs show as themselves):")
        rows = [(label, b.get(label, [0.0])[0], i.get(label, [0.0])[0]) for label in set(b) | set(i)]
        for label, x, y in sorted(rows, key=lambda row: -abs(row[1] - row[2])):
            print(f"  {label:36s} {x:8.1f} {y:8.1f} {x - y:+8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000, help="rounds per provider (2 callbacks each)")
    parser.add_argument("--players", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=100, help="rounds not counted")
    parser.add_argument("--wrap", default=",".join(PIECES), help="module:function,… (default: the hot path's pieces)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tl_bench_callback_phases")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    pieces = [piece for piece in args.wrap.split(",") if piece]
    for piece in pieces:
        if ":" not in piece:
            raise SystemExit(f"--wrap {piece!r}: write it as module:function, e.g. wallet.events:publish")
    if args.worker:
        print(json.dumps(work(pieces, args.rounds, args.players, args.warmup)))
        return

    from bench._http_db import migrated_database

    env = _env(args.database_url)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--wrap", ",".join(pieces)]
    command += ["--rounds", str(args.rounds), "--players", str(args.players), "--warmup", str(args.warmup)]
    with migrated_database(args.database_url, env):
        print(
            f"worker: {args.rounds} rounds per provider after {args.warmup} of warm-up, {len(pieces)} pieces",
            flush=True,
        )
        out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"worker failed:\n{out.stderr[-3000:]}")
        report(json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
