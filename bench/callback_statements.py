#!/usr/bin/env python
"""Statements and round trips per wallet callback, IGPX against Betsy (the same mix as
bench/callback_cpu.py), counted below Django with bench/_capture.Recorder.

    .venv/bin/python bench/callback_statements.py [--rounds 10] [--show]

Every request goes straight to `config.wsgi.application` in-process. A "statement" is what psycopg
sent (the ORM's and `wallet.rows.cursor()`'s); BEGIN/COMMIT/ROLLBACK are counted apart. `--show`
prints the statements of one round of each kind. The database is tl_bench_callback_statements
(dropped and created).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tl_bench_callback_statements")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        count(args.rounds, args.show)
        return
    import subprocess

    from bench._http_db import migrated_database
    from bench.callback_cpu import _env

    env = _env(args.database_url)
    with migrated_database(args.database_url, env):
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--rounds", str(args.rounds)]
        subprocess.run(command + (["--show"] if args.show else []), cwd=ROOT, env=env, check=True)


def count(rounds: int, show: bool) -> None:
    import django

    django.setup()
    import bench._capture as capture
    from bench.callback_cpu import work

    recorder = capture.Recorder()
    recorder.install()
    counts: dict[str, list[tuple[int, int]]] = defaultdict(list)
    real_call = capture.call

    def kind_of(method: str, path: str, body: bytes) -> str:
        if path.startswith("/api/igpx"):
            return f"igpx {json.loads(body)['action']}"
        return "betsy place" if method == "POST" else "betsy settle"

    def call(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if path.startswith("/api/operator/"):
            return real_call(method, path, body, headers)
        kind = kind_of(method, path, body)
        with recorder.recording() as statements:
            answer = real_call(method, path, body, headers)
        counts[kind].append((sum(not s.command for s in statements), sum(s.command for s in statements)))
        if show and len(counts[kind]) == 3:
            print(f"== {kind}")
            for statement in statements:
                print("  ", " ".join(statement.sql.split())[:160])
        return answer

    capture.call = call  # work() imports it at call time
    work(["igpx", "betsy"], rounds, 50, 4, warmup=2)
    print(f"per callback ({rounds} rounds, half the results/settles paying):")
    for kind in ("igpx bet", "igpx result", "betsy place", "betsy settle"):
        seen = counts[kind][2:]  # after the warm-up rounds
        statements = sum(s for s, _ in seen) / len(seen)
        commands = sum(c for _, c in seen) / len(seen)
        print(
            f"  {kind:13s} statements {statements:.2f}  + BEGIN/COMMIT {commands:.2f}  = round trips {statements + commands:.2f}"
        )


if __name__ == "__main__":
    main()
