"""python manage.py uof_simulate: a local Unified Odds Feed on RabbitMQ plus a fake REST API.

Point the consumer at it with UOF_API_URL=<printed URL> and UOF_ACCESS_TOKEN=<token>, or use
--direct to apply messages in-process without a broker.
"""

from __future__ import annotations

import signal
import threading
import time

from django.core.management.base import BaseCommand

from feeds import conf
from feeds.demo import DEMO_TOKEN
from feeds.simulator import AmqpSink, DirectSink, FakeUofApi, FeedSimulator, ListSink


class Command(BaseCommand):
    help = "Publish simulated UOF traffic (samples, matches, alives, outages, recoveries) and serve a fake REST API."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="", help="AMQP URL (default: UOF_AMQP_URL or the local broker)")
        parser.add_argument("--exchange", default="", help=f"exchange (default: {conf.EXCHANGE})")
        parser.add_argument("--direct", action="store_true", help="apply in-process, no broker")
        parser.add_argument("--dry-run", action="store_true", help="generate without publishing (prints counts)")
        parser.add_argument("--rate", type=float, default=20.0, help="odds messages per second")
        parser.add_argument("--events", type=int, default=6, help="concurrent matches")
        parser.add_argument("--duration", type=float, default=0.0, help="seconds (0: until Ctrl-C)")
        parser.add_argument(
            "--outage-every", type=float, default=120.0, help="seconds between live producer outages (0: none)"
        )
        parser.add_argument("--api-port", type=int, default=8765, help="fake REST API port (0: none)")
        parser.add_argument("--no-samples", action="store_true", help="do not publish the shared sample messages")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **opts):
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        if opts["dry_run"]:
            sink = ListSink()
        elif opts["direct"]:
            sink = DirectSink()
        else:
            url = opts["url"] or conf.amqp_url() or "amqp://guest:guest@127.0.0.1:5672/%2F"
            sink = AmqpSink(url, opts["exchange"] or conf.EXCHANGE)
            self.stdout.write(f"publishing to {url} exchange {sink.exchange}")
        sim = FeedSimulator(
            sink,
            events=opts["events"],
            rate=opts["rate"],
            seed=opts["seed"],
            node_id=conf.node_id(),
            outage_every=opts["outage_every"],
        )
        api = None
        if opts["api_port"]:
            token = conf.access_token() or DEMO_TOKEN
            api = FakeUofApi(token=token, port=opts["api_port"], simulator=sim)
            self.stdout.write(f"fake UOF REST API at {api.start()} (UOF_API_URL), token {token!r} (UOF_ACCESS_TOKEN)")
        if not opts["no_samples"]:
            sim.publish_samples()
        started = last = time.monotonic()
        try:
            while not stop.is_set():
                sim.step()
                now = time.monotonic()
                if now - last >= 5:
                    last = now
                    live = sum(1 for e in sim.events.values() if e.phase == "live")
                    self.stdout.write(
                        f"  {now - started:5.0f}s sent {sink.sent}, matches live {live}/{len(sim.events)}, "
                        f"recoveries answered {sim.recoveries_answered}, {dict(sorted(sim.counts.items()))}"
                    )
                if opts["duration"] and now - started >= opts["duration"]:
                    break
                stop.wait(0.05)
        finally:
            sink.close()
            if api:
                api.stop()
        self.stdout.write(self.style.SUCCESS(f"simulator stopped after {sink.sent} messages"))
