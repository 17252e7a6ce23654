"""Delivery worker CPU per Fast Track event over REST (one POST per event, as Fast Track takes them).

    python bench/crm_rest_cost.py --events 1500 --rounds 4

On a fresh database (default tl_bench_crm_rest, dropped and re-created): funded players, then
per round `--events` events written through the wallet postings (the outbox rows come from the
real subscriber), then delivered in this process by crm.services.deliver_pending with the REST
transport to the Fast Track simulator running in its own process. Prints the delivering
process's CPU (time.process_time) per event for each round and the median: what the Celery
worker spends per event in production, without Celery's own per-task cost.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import subprocess
import sys
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
    parser.add_argument("--events", type=int, default=1500, help="events per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--players", type=int, default=100)
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="deliver after every BATCH events written (a worker kicked often under load: small batches);"
        " 0: write the round's events, then deliver them all",
    )
    parser.add_argument("--profile", help="write a cProfile of the delivery calls to this file")
    args = parser.parse_args()

    import crm_export

    crm_export.recreate_database(args.database_url)
    crm_export.setup_django(args.database_url)
    from django.core.management import call_command

    from crm.models import OutboxEvent
    from crm.services import deliver_pending
    from crm.transports.rest import RestTransport

    print(f"database {args.database_url.rsplit('/', 1)[1]}: migrate, seed {args.players} players", flush=True)
    call_command("migrate", verbosity=0)
    players = crm_export.seed_players(args.players)
    OutboxEvent.objects.all().delete()

    sim = subprocess.Popen([sys.executable, "-c", FAST_TRACK.format(root=str(ROOT))], stdout=subprocess.PIPE, text=True)
    try:
        url = sim.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit("the Fast Track simulator did not start")
        per_event: list[float] = []
        profile = cProfile.Profile(time.process_time) if args.profile else None
        for n in range(args.rounds):
            transport = RestTransport(url, "bench")
            step = args.batch or args.events
            spent, delivered = 0.0, 0
            for first in range(0, args.events, step):
                crm_export.write_events(players, min(step, args.events - first), 1, f"r{n}-{first}")
                started = time.process_time()
                if profile:
                    profile.enable()
                while True:  # as one delivery task: on until nothing is due, in a fresh task when it ran long
                    result = deliver_pending(transport=transport, time_budget=5.0)
                    delivered += len(result.delivered)
                    if not result.more:
                        break
                if profile:
                    profile.disable()
                spent += time.process_time() - started
            transport.close()
            if not delivered:
                raise SystemExit("nothing was delivered: is the simulator answering?")
            per_event.append(1e6 * spent / delivered)
            print(
                f"  round {n + 1}/{args.rounds}: {delivered} events, {per_event[-1]:.0f} µs CPU per event", flush=True
            )
        print(f"median: {statistics.median(per_event):.0f} µs of delivery CPU per event")
        if profile:
            profile.dump_stats(args.profile)
            print(f"profile: {args.profile}")
    finally:
        sim.kill()


if __name__ == "__main__":
    main()
