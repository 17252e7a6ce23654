"""Delivery worker CPU per Fast Track event over REST (one POST per event, as Fast Track takes them).

    python bench/crm_rest_cost.py --events 1500 --rounds 4

On a fresh database (default tl_bench_crm_rest, dropped and re-created): funded players, then
per round `--events` events written through the wallet postings (the outbox rows come from the
real subscriber), then delivered in this process by crm.services.deliver_pending with the REST
transport to the Fast Track simulator running in its own process. Prints the delivering
process's CPU (time.process_time) per event for each round and the median: what the Celery
worker spends per event in production, without Celery's own per-task cost. Beside it, the CPU
its PostgreSQL backend spent on the same deliveries (/proc/<pid>/schedstat, in ns): the claim
and the record, which share the wallet's cores with the callbacks.

    python bench/crm_rest_cost.py --callgrind [--events 100 --rounds 10 --kind igpx]

--callgrind counts instructions instead (valgrind; deterministic whatever the load): the events
are written by this process, and delivered by a worker process run under callgrind, one batch
per round of --events (as a worker kicked under load takes them: ~100 events a task at 400
IGPX callbacks a second), to a Fast Track stand-in that answers 200 (bench/_fast_track_sink.py,
as in the HTTP benchmarks). The worker runs --rounds and 4 x --rounds rounds; the difference
divided by the extra events delivered is its instructions per event, so start-up cancels.
--kind igpx writes what an IGPX load exports (a bet without selections, then a paying result:
an unlinked Settlement), betsy (the default) a bet with one selection and its settlement.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

FAST_TRACK = """
import os, sys, time
sys.path.insert(0, {root!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["TOUCHLINE_DEMO"] = "true"
import django
django.setup()
from crm.simulator import FastTrackSimulator
print(FastTrackSimulator(api_key="bench", validate=False).start().url, flush=True)
time.sleep(3600)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tl_bench_crm_rest")
    parser.add_argument("--events", type=int, help="events per round (default 1500; --callgrind: 100)")
    parser.add_argument("--rounds", type=int, help="default 4; --callgrind: 10 and 40")
    parser.add_argument("--players", type=int, default=100)
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="deliver after every BATCH events written (a worker kicked often under load: small batches);"
        " 0: write the round's events, then deliver them all",
    )
    parser.add_argument("--profile", help="write a cProfile of the delivery calls to this file")
    parser.add_argument(
        "--statements",
        action="store_true",
        help="also print PostgreSQL's CPU per event by statement (each one timed on the backend's schedstat)",
    )
    parser.add_argument("--callgrind", action="store_true", help="count the worker's instructions per event (valgrind)")
    parser.add_argument("--kind", choices=("betsy", "igpx"), default="betsy", help="--callgrind: what the events are")
    parser.add_argument("--callgrind-dir", default="", help="keep callgrind's output files here (callgrind_annotate)")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)  # the Fast Track URL: deliver on each line read
    args = parser.parse_args()
    if args.worker:
        deliver_on_demand(args.database_url, args.worker)
        return
    if args.callgrind:
        args.events, args.rounds = args.events or 100, args.rounds or 10
        callgrind(args)
        return
    args.events, args.rounds = args.events or 1500, args.rounds or 4

    import crm_export

    players = prepare(args)
    from crm.services import deliver_pending
    from crm.transports.rest import RestTransport

    sim = subprocess.Popen([sys.executable, "-c", FAST_TRACK.format(root=str(ROOT))], stdout=subprocess.PIPE, text=True)
    try:
        url = sim.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit("the Fast Track simulator did not start")
        per_event: list[float] = []
        db_per_event: list[float] = []
        total_delivered = 0
        backend = _backend_pid()
        statements = _StatementClock(backend) if args.statements else None
        profile = cProfile.Profile(time.process_time) if args.profile else None
        for n in range(args.rounds):
            transport = RestTransport(url, "bench")
            step = args.batch or args.events
            spent, db_spent, delivered = 0.0, 0.0, 0
            for first in range(0, args.events, step):
                crm_export.write_events(players, min(step, args.events - first), 1, f"r{n}-{first}")
                started, db_started = time.process_time(), _on_cpu(backend)
                if statements:
                    statements.install()
                if profile:
                    profile.enable()
                while True:  # as one delivery task: on until nothing is due, in a fresh task when it ran long
                    result = deliver_pending(transport=transport, time_budget=5.0)
                    delivered += len(result.delivered)
                    if not result.more:
                        break
                if profile:
                    profile.disable()
                if statements:
                    statements.uninstall()
                spent += time.process_time() - started
                db_spent += _on_cpu(backend) - db_started
            transport.close()
            if not delivered:
                raise SystemExit("nothing was delivered: is the simulator answering?")
            total_delivered += delivered
            per_event.append(1e6 * spent / delivered)
            db_per_event.append(1e6 * db_spent / delivered)
            print(
                f"  round {n + 1}/{args.rounds}: {delivered} events, {per_event[-1]:.0f} µs CPU per event,"
                f" PostgreSQL {db_per_event[-1]:.0f} µs",
                flush=True,
            )
        print(
            f"median: {statistics.median(per_event):.0f} µs of delivery CPU per event,"
            f" PostgreSQL {statistics.median(db_per_event):.0f} µs"
        )
        if statements:
            statements.report(total_delivered)
        if profile:
            profile.dump_stats(args.profile)
            print(f"profile: {args.profile}")
    finally:
        sim.kill()


class _StatementClock:
    """PostgreSQL's CPU for each delivery statement, by the statement's first words: the
    backend's schedstat read around each execute of the hot-path cursor (config/postgresql/lean.py)."""

    def __init__(self, backend: int) -> None:
        from config.postgresql import lean

        self.backend, self.lean, self.original = backend, lean, lean.Cursor.execute
        self.spent: dict[str, list[float]] = {}

    def install(self) -> None:
        original, backend, spent = self.original, self.backend, self.spent

        def execute(cursor, sql, params=None, *args, **kwargs):
            before = _on_cpu(backend)
            try:
                return original(cursor, sql, params, *args, **kwargs)
            finally:
                entry = spent.setdefault(" ".join(str(sql).split()[:7])[:70], [0, 0.0])
                entry[0] += 1
                entry[1] += _on_cpu(backend) - before

        self.lean.Cursor.execute = execute

    def uninstall(self) -> None:
        self.lean.Cursor.execute = self.original

    def report(self, events: int) -> None:
        print("PostgreSQL's CPU per delivered event, by statement:")
        for words, (count, seconds) in sorted(self.spent.items(), key=lambda item: -item[1][1]):
            print(f"  {1e6 * seconds / events:7.1f} µs  ({count} statements)  {words}")


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _on_cpu(pid: int) -> float:
    """Seconds the process has run on a CPU (the scheduler's count, in ns: finer than utime's ticks)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def prepare(args: argparse.Namespace) -> list[str]:
    """A fresh database with funded players and an empty outbox; the players' external ids."""
    import crm_export

    crm_export.recreate_database(args.database_url)
    crm_export.setup_django(args.database_url)
    from django.core.management import call_command

    from crm.models import OutboxEvent

    print(f"database {args.database_url.rsplit('/', 1)[1]}: migrate, seed {args.players} players", flush=True)
    call_command("migrate", verbosity=0)
    players = crm_export.seed_players(args.players)
    OutboxEvent.objects.all().delete()
    return players


def deliver_on_demand(database_url: str, url: str) -> None:
    """The worker of --callgrind: one delivery (as one task: on until nothing is due) per line on
    stdin, answering with the number of events delivered."""
    import crm_export

    crm_export.setup_django(database_url)
    from crm.services import deliver_pending
    from crm.transports.rest import RestTransport

    transport = RestTransport(url, "bench")
    for _ in sys.stdin:
        delivered = 0
        while True:
            result = deliver_pending(transport=transport, time_budget=600.0)
            delivered += len(result.delivered)
            if not result.more:
                break
        print(delivered, flush=True)
    transport.close()


def write_igpx_events(players: list[str], count: int, tag: str) -> None:
    """`count` events as an IGPX load exports them: a bet (no selections), then a paying result."""
    import json

    from wallet.igpx import protocol, services

    for n in range(count // 2):
        base = {"user_id": players[n % len(players)], "currency": "EUR"}
        for action, amount in (("bet", "2.50"), ("result", "5.00")):
            body = json.dumps({"transaction_id": f"{tag}-{action}-{n}", "action": action, "amount": amount, **base})
            answer = json.loads(
                services.transaction_process(request=protocol.parse_transaction(body.encode()), raw=body)
            )
            if answer["error"] is not None:
                raise SystemExit(f"IGPX {action} refused: {answer}")


def callgrind(args: argparse.Namespace) -> None:
    """Instructions per delivered event: (I(4R rounds) - I(R rounds)) / (events(4R) - events(R))."""
    import crm_export
    from callback_cpu import callgrind_total

    players = prepare(args)
    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_fast_track_sink.py")], stdout=subprocess.PIPE, text=True
    )
    # One string-hash seed for both workers: dict and set layouts (and so instructions) then do
    # not vary between the R and the 4R process of a difference.
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    counted: list[tuple[int, int]] = []
    try:
        url = sink.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit("the Fast Track stand-in did not start")
        with tempfile.TemporaryDirectory(prefix="tl-callgrind-") as temporary:
            out_dir = Path(args.callgrind_dir or temporary)
            out_dir.mkdir(parents=True, exist_ok=True)
            for rounds in (args.rounds, 4 * args.rounds):
                out_file = out_dir / f"deliver-{args.kind}-{rounds}.out"
                command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", sys.executable]
                command += [str(Path(__file__).resolve()), "--worker", url, "--database-url", args.database_url]
                worker = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True)  # fmt: skip
                delivered = 0
                for n in range(rounds + 1):  # the first round warms up (connection, statements): counted in both
                    tag = f"{rounds}-{n}"
                    if args.kind == "igpx":
                        write_igpx_events(players, args.events, tag)
                    else:
                        crm_export.write_events(players, args.events, 1, tag)
                    worker.stdin.write("deliver\n")
                    worker.stdin.flush()
                    got = int(worker.stdout.readline())
                    if got != args.events:
                        raise SystemExit(f"round {n}: {got} events delivered, {args.events} written")
                    delivered += got
                worker.stdin.close()
                if worker.wait() != 0:
                    raise SystemExit("the delivery worker failed")
                total = callgrind_total(out_file)
                counted.append((total, delivered))
                print(f"  {rounds:4d} rounds of {args.events} {args.kind} events: {total:,} instructions", flush=True)
    finally:
        sink.kill()
    (small, small_events), (large, large_events) = counted
    print(f"instructions per delivered event (callgrind): {(large - small) / (large_events - small_events):,.0f}")


if __name__ == "__main__":
    main()
