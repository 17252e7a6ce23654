#!/usr/bin/env python
"""Full garbage collections in a callback worker, with the start-up objects frozen
(config/gcfreeze.py, as shipped) and with the freeze undone, in one run.

    .venv/bin/python bench/gc_pause.py [--rounds 4000] [--repeat 5]

1. A fresh process imports `config.wsgi` (what a granian worker does; it freezes what it built)
   and times a full collection, `gc.collect()`, the median of --repeat; then `gc.unfreeze()`
   and the same again: the stall a full collection is, either way.
2. Two fresh processes each run --rounds IGPX bet + result and Betsy place + settle rounds
   in-process (bench/callback_cpu.py's worker: players made through the operator API, each
   request passed to `config.wsgi.application`), one as shipped, one as before
   config/gcfreeze.py (`freeze_startup_objects` replaced by a no-op before `config.wsgi` is
   imported: no collection and no freeze at start-up), and count the collections of each
   generation while importing and while serving, and the longest.

The database is tl_bench_gc_pause on the local PostgreSQL (dropped and created).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4000, help="rounds per provider in part 2 (2 callbacks each)")
    parser.add_argument("--repeat", type=int, default=5, help="full collections timed per way in part 1")
    parser.add_argument("--players", type=int, default=50)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tl_bench_gc_pause")
    parser.add_argument("--child", choices=("pause", "shipped", "before"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    from bench._http_db import migrated_database
    from bench.callback_cpu import _env

    env = _env(args.database_url)
    with migrated_database(args.database_url, env):
        pause = run_child(args, env, "pause")
        print(f"1. a full collection right after `import config.wsgi` (median of {args.repeat}):")
        print(f"   frozen (as shipped): {pause['frozen_ms']:.2f} ms, {pause['tracked']:,} objects walked;"
              f" {pause['frozen']:,} frozen")  # fmt: skip
        print(f"   freeze undone:       {pause['unfrozen_ms']:.2f} ms, {pause['all']:,} objects walked")
        print(f"2. collections over {args.rounds} IGPX and {args.rounds} Betsy rounds ({args.rounds * 4} callbacks):")
        for way in ("shipped", "before"):
            seen = run_child(args, env, way)
            print(f"   {'as shipped' if way == 'shipped' else 'before (no freeze)'}:")
            print(f"     while importing config.wsgi: {_text(seen['import'])}")
            print(f"     while serving:               {_text(seen['collections'])}", flush=True)


def run_child(args: argparse.Namespace, env: dict[str, str], way: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", way, "--rounds", str(args.rounds),
               "--repeat", str(args.repeat), "--players", str(args.players)]  # fmt: skip
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{way} process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(args: argparse.Namespace) -> dict:
    collections: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            collections[info["generation"]].append((time.perf_counter() - started[0]) * 1000)

    if args.child == "before":
        import config.gcfreeze

        config.gcfreeze.freeze_startup_objects = lambda: 0  # what config.wsgi did before
    if args.child != "pause":
        gc.callbacks.append(watch)
    import config.wsgi  # noqa: F401  (as a granian worker loads it)

    if args.child == "pause":
        frozen, tracked = gc.get_freeze_count(), len(gc.get_objects())
        frozen_ms = _median_collect_ms(args.repeat)
        gc.unfreeze()
        return {"frozen": frozen, "tracked": tracked, "frozen_ms": frozen_ms, "all": len(gc.get_objects()),
                "unfrozen_ms": _median_collect_ms(args.repeat)}  # fmt: skip
    from bench.callback_cpu import work

    during_import = {g: list(v) for g, v in collections.items()}
    for v in collections.values():
        v.clear()
    work(["igpx", "betsy"], args.rounds, 1, args.players)
    gc.callbacks.remove(watch)
    return {
        "import": _summary(during_import),
        "collections": _summary(collections),
    }


def _text(collections: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"gen{g} {c['count']}"
        + (f" (longest {c['longest_ms']:.2f} ms, total {c['total_ms']:.1f} ms)" if c["count"] else "")
        for g, c in sorted(collections.items())
    )


def _summary(collections: dict[int, list[float]]) -> dict[int, dict[str, float]]:
    return {g: {"count": len(v), "longest_ms": max(v, default=0.0), "total_ms": sum(v)} for g, v in collections.items()}


def _median_collect_ms(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
