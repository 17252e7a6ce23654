#!/usr/bin/env python
"""The REST transport alone: CPU per Fast Track event of the sender and of the endpoint, one
request at a time against several in flight (FASTTRACK_REST_CONNECTIONS).

    .venv/bin/python bench/crm_rest_transport.py --connections 1,16 --waves 100 --wave 70

Sends `--waves` waves of `--wave` events (a wave as the outbox hands one over: the next event of
that many players) with crm.transports.rest.RestTransport.send_many to the benchmarks' Fast
Track stand-in (bench/_fast_track_sink.py, its own process), each connection count in turn, twice.
Prints the sender's CPU (time.process_time), the stand-in's CPU (/proc) and the wall time per
event. No database; what the rest of a delivery costs is bench/crm_rest_cost.py's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", default="1,16", help="comma list (default 1,16)")
    parser.add_argument("--waves", type=int, default=100)
    parser.add_argument("--wave", type=int, default=70, help="events a wave (default 70)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("TOUCHLINE_DEMO", "true")
    import django

    django.setup()
    from bench._http_report import cpu_seconds
    from crm.transports import Message
    from crm.transports.rest import RestTransport

    sink = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_fast_track_sink.py")], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        url = sink.stdout.readline().strip()
        body = b'{"activity_id":"tl-bet-1","amount":"5.00","payload":"' + b"x" * 600 + b'"}'  # ~ an event's size
        wave = [Message(f"tl-bet-{i}", str(i), body) for i in range(args.wave)]
        events = args.waves * args.wave
        counts = [int(c) for c in args.connections.split(",")]
        print(f"{args.waves} waves of {args.wave} events to {url}, each connection count twice:")
        for connections in counts * 2:
            transport = RestTransport(url, "bench", connections=connections)
            try:
                transport.send_many(wave)  # connect and warm up
                cpu, sink_cpu, wall = time.process_time(), cpu_seconds([sink.pid])[sink.pid], time.perf_counter()
                for _ in range(args.waves):
                    if transport.send_many(wave) != [None] * args.wave:
                        raise SystemExit("the stand-in refused an event")
                cpu, sink_cpu = time.process_time() - cpu, cpu_seconds([sink.pid])[sink.pid] - sink_cpu
                wall = time.perf_counter() - wall
            finally:
                transport.close()
            print(f"  connections {connections:2d}: sender {1e6 * cpu / events:5.1f} µs CPU an event,"
                  f" endpoint {1e6 * sink_cpu / events:5.1f} µs, wall {1e6 * wall / events:5.1f} µs")  # fmt: skip
    finally:
        sink.kill()
        sink.wait()


if __name__ == "__main__":
    main()
