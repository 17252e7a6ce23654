"""Per-message cost of each step of the apply pipeline, on one thread, no AMQP.

  DATABASE_URL=postgres://postgres@127.0.0.1:5432/tl_feeds /work/main/.venv/bin/python bench/feeds_phases.py

Same code as feeds.services.ingest.apply_batch, cut into timed steps (parse, load, apply,
writes, journal, commit); 6,000 messages of bench/feed_ingest.py, 500 events, batches of 500,
the first half warming the line cache. Truncates the feed tables.

  --count MODE N: a fixed workload for instruction counts instead (parse, or parse and apply
  in batches of 100; MODE is parse, all, resend: as all, but every message is sent twice,
  the second time unchanged with a newer timestamp, as a whole-event resend or a recovery
  does, or mix / mix-parse: the realistic message instead, an event's 30 lines re-sent with
  3 of them moved (bench._feed_messages.make_mix_messages), or apply: apply + write alone, all
  600 measured messages parsed first in both runs). Per message = (I(6) - I(2)) / 400:
    valgrind --tool=callgrind .venv/bin/python bench/feeds_phases.py --count all 2   # and 6
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("TOUCHLINE_DEMO", "true")  # demo secrets, plain HTTP (config/security.py)


def _create_if_missing(database_url: str) -> None:
    """A scratch PostgreSQL database named by DATABASE_URL is created when it does not exist yet
    (the migration below then builds it)."""
    if not database_url.startswith("postgres"):
        return
    from bench._http_db import admin_connect

    name = database_url.rsplit("/", 1)[1]
    with admin_connect(database_url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            print(f"database {name}: created", flush=True)
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=500, help="messages per batch (paced 500 msg/s: about 70)")
    parser.add_argument(
        "--count",
        nargs=2,
        metavar=("MODE", "N"),
        help="parse|all|apply|resend|mix|mix-parse, batches of 100 (for callgrind)",
    )
    args = parser.parse_args()
    size = args.batch
    _create_if_missing(os.environ.get("DATABASE_URL", ""))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # a new scratch database works as it is (as feed_ingest)
    gc.set_threshold(200_000, 50, 100)  # as uof_consume does
    if args.count:
        count_run(args.count[0], int(args.count[1]))
        return
    from django.db import transaction
    from django.utils import timezone

    from bench.feed_ingest import TS_PLACEHOLDER, make_messages, reset_db
    from feeds.services import descriptions, ingest, rows, state, store

    reset_db()
    messages = make_messages(6000, 500)
    items = [
        ingest.Incoming(body=body.replace(TS_PLACEHOLDER, str(1_700_000_000_000 + i).encode()), routing_key=key)
        for i, (key, body) in enumerate(messages)
    ]
    for start in range(0, 3000, size):
        ingest.apply_batch(items[start : start + size])
    totals: dict[str, float] = {}
    cpu: dict[str, float] = {}
    last_cpu = [time.process_time()]

    def tick(name: str, started: float) -> float:
        # Wall time and this process's CPU time: the difference is mostly PostgreSQL's work
        # (and waiting for a core on a busy machine).
        now = time.perf_counter()
        now_cpu = time.process_time()
        totals[name] = totals.get(name, 0.0) + now - started
        cpu[name] = cpu.get(name, 0.0) + now_cpu - last_cpu[0]
        last_cpu[0] = now_cpu
        return now

    for start in range(3000, 6000, size):
        t = time.perf_counter()
        last_cpu[0] = time.process_time()
        parsed = ingest.parse_batch(items[start : start + size])
        t = tick("parse", t)
        with transaction.atomic():
            ws = rows.Workspace(now=timezone.now(), groups=descriptions.market_groups, cache=store.CACHE)
            store.load(ws, [p.message for p in parsed])
            t = tick("load", t)
            journal = []
            for index, p in enumerate(parsed):
                ws.message_index = index
                result = state.apply_message(ws, p.message, sport_id=p.sport_id)
                journal.append(ingest._journal_row(p, result.outcome, result.reason, ws.now))
            t = tick("apply", t)
            store._flush_events(ws)
            t = tick("write events", t)
            store._flush_markets(ws)
            t = tick("write lines", t)
            store._write_journal_pg(journal)
            t = tick("journal", t)
            store.CACHE.commit(ws)
        t = tick("commit", t)
    n = 3000
    print(f"{'step':14s} {'wall':>7s} {'python CPU':>11s}  (us/msg)")
    for name, seconds in totals.items():
        print(f"{name:14s} {seconds / n * 1e6:7.0f} {cpu[name] / n * 1e6:11.0f}")
    total = sum(totals.values())
    print(
        f"total {total / n * 1e6:.0f} us/msg wall, {sum(cpu.values()) / n * 1e6:.0f} us/msg Python CPU -> {n / total:.0f} msg/s"
    )


def count_run(mode: str, batches: int, size: int = 100) -> None:
    """The same 800 messages whatever N (only the measured batches differ), warmed with 200."""
    from bench._feed_messages import make_mix_messages
    from bench.feed_ingest import TS_PLACEHOLDER, make_messages, reset_db
    from feeds.services import ingest

    if mode.startswith("mix"):
        messages = make_mix_messages(200 + 6 * size, 50)
        mode = "parse" if mode == "mix-parse" else "all"
    else:
        messages = make_messages(200 + 6 * size, 50)
    if mode == "resend":
        messages = [pair for message in messages[: len(messages) // 2] for pair in (message, message)]
        mode = "all"
    items = [
        ingest.Incoming(body=body.replace(TS_PLACEHOLDER, str(1_700_000_000_000 + i).encode()), routing_key=key)
        for i, (key, body) in enumerate(messages)
    ]
    if mode == "parse":
        ingest.parse_batch(items[:200])
        for start in range(200, 200 + batches * size, size):
            ingest.parse_batch(items[start : start + size])
        return
    reset_db()
    ingest.apply_batch(items[:100])
    ingest.apply_batch(items[100:200])
    if mode == "apply":  # the same parsing in both runs: the difference is apply + write alone
        parsed = [ingest.parse_batch(items[start : start + size]) for start in range(200, 200 + 6 * size, size)]
        for batch in parsed[:batches]:
            ingest.apply_parsed(batch)
        return
    for start in range(200, 200 + batches * size, size):
        ingest.apply_batch(items[start : start + size])


if __name__ == "__main__":
    main()
