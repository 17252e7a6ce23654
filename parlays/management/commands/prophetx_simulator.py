"""`manage.py prophetx_simulator`: run the fake ProphetX (REST + Pusher WebSocket) on localhost.

Prints the environment to give `prophetx_listen`, writes the simulator's event mappings into
this database (so its lines map automatically) and, with --rate, broadcasts RFQs.
"""

from __future__ import annotations

import threading
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run a local ProphetX simulator (REST + Pusher WebSocket)."

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=float, default=0.0, help="RFQs per second to broadcast (0: none)")
        parser.add_argument("--confirm-every", type=int, default=10, help="confirm every Nth quoted RFQ")
        parser.add_argument("--duration", type=float, default=0.0, help="seconds to run (0: until Ctrl-C)")

    def handle(self, *args, rate: float, confirm_every: int, duration: float, **options):
        from parlays.demo import map_simulator_events
        from parlays.simulator import ProphetXSimulator

        sim = ProphetXSimulator().start()
        map_simulator_events(sim)
        for key, value in sim.env().items():
            self.stdout.write(f"export {key}={value}")
        self.stdout.write("Note: the listener needs prices for the simulated games; set")
        self.stdout.write("export PROPHETX_PRICE_SOURCE=parlays.demo.simulated_price_source")
        stop = threading.Event()
        try:
            if rate > 0:
                sim.run_traffic(rate_per_s=rate, duration_s=duration or 10**9, confirm_every=confirm_every, stop=stop)
            else:
                end = time.monotonic() + (duration or 10**9)
                while time.monotonic() < end:
                    time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            sim.stop()
