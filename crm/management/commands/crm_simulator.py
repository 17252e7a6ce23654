"""`manage.py crm_simulator`: run the fake Fast Track REST endpoint on its own.

python manage.py crm_simulator --port 8765 --api-key k
FASTTRACK_TRANSPORT=rest FASTTRACK_API_URL=http://127.0.0.1:8765 FASTTRACK_API_KEY=k …
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from crm.simulator import FastTrackSimulator


class Command(BaseCommand):
    help = "Serve a fake Fast Track REST endpoint that validates and prints what it receives."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--api-key", default="")
        parser.add_argument("--fail-status", type=int, help="answer this HTTP status to every request")

    def handle(self, *args, host: str, port: int, api_key: str, fail_status: int | None, **options):
        simulator = FastTrackSimulator(host=host, port=port, api_key=api_key).start()
        if fail_status:
            simulator.fail_with(fail_status)
        self.stdout.write(f"Fast Track simulator on {simulator.url}/v1/integration/sports (Ctrl-C to stop)")
        shown = rejected = 0
        try:
            while True:
                time.sleep(0.5)
                for event in simulator.received[shown:]:
                    self.stdout.write(f"{event['activity_id']} {event['type']}/{event['status']} {event['amount']}")
                shown = len(simulator.received)
                for status, reason in simulator.rejected[rejected:]:
                    self.stderr.write(f"refused ({status}): {reason}")
                rejected = len(simulator.rejected)
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop()
