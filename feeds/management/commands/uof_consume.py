"""python manage.py uof_consume: the Unified Odds Feed consumer.

Run one, or N that split the feed (docs/uof.md, "Running N consumers"): by bindings
(`--routing live` and `--routing prematch`, `--sport …`) or by share (`--share 0/2` and
`--share 1/2`). Each has a name in the registry, stable across restarts (`--name`).
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from feeds import conf
from feeds.consumer import Consumer, binding_keys
from feeds.protocol.routing import PRESETS, bindings
from feeds.services import consumers


class Command(BaseCommand):
    help = "Consume the Betradar Unified Odds Feed from AMQP into the feed state (ack after commit)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="", help="AMQP URL (default: UOF_AMQP_URL)")
        parser.add_argument("--exchange", default="", help=f"exchange (default: UOF_EXCHANGE={conf.EXCHANGE})")
        parser.add_argument("--routing", choices=sorted(PRESETS), help="binding preset (default: UOF_ROUTING)")
        parser.add_argument("--sport", type=int, action="append", default=[], help="only this sport id (repeatable)")
        parser.add_argument("--key", action="append", default=[], help="explicit binding key (repeatable)")
        parser.add_argument("--prefetch", type=int, default=None)
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--declare-exchange", action="store_true", help="declare the exchange (local brokers only)")
        parser.add_argument("--stats-every", type=float, default=10.0, help="progress line interval, seconds")
        parser.add_argument("--share", default="", help="k/N: apply only events hashed to share k of N (e.g. 0/2)")
        parser.add_argument(
            "--name",
            default="",
            help="this consumer's name in the registry (default: host/share/bindings hash, stable across restarts)",
        )
        parser.add_argument(
            "--forget", metavar="NAME", default="", help="remove a dead consumer from the registry, then exit"
        )

    def handle(self, *args, **opts):
        if opts["forget"]:
            removed = consumers.forget(opts["forget"])
            if not removed:
                raise CommandError(f"no consumer named {opts['forget']!r} is registered")
            self.stdout.write(f"forgot consumer {opts['forget']}: producers may recover without its share")
            return
        try:
            share = consumers.parse_share(opts["share"]) if opts["share"] else None
        except ValueError as exc:
            raise CommandError(f"--share: {exc}") from None
        url = opts["url"] or conf.amqp_url()
        if not url:
            raise CommandError(
                "Set UOF_AMQP_URL (e.g. amqps://<token>:@stgmq.betradar.com:5671/unifiedfeed/<bookmaker id>) or pass --url."
            )
        if opts["key"]:
            keys = opts["key"]
        elif opts["routing"] or opts["sport"]:
            keys = bindings(
                opts["routing"] or conf.ROUTING, sports=tuple(opts["sport"]) or conf.SPORTS, node_id=conf.node_id()
            )
        else:
            keys = binding_keys()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        consumer = Consumer(
            url=url,
            exchange=opts["exchange"] or None,
            keys=keys,
            prefetch=opts["prefetch"],
            batch_size=opts["batch_size"],
            stop=stop,
            declare_exchange=opts["declare_exchange"],
            name=opts["name"] or None,
            share=share,
        )
        logging.getLogger("touchline.feeds").setLevel(logging.INFO)
        # A dedicated process holding a large, long-lived cache of market lines: fewer full
        # garbage collections (measured ~20% less CPU per message, docs/benchmarks/feeds.md).
        gc.set_threshold(200_000, 50, 100)
        self.stdout.write(
            f"uof_consume {consumer.name}: exchange={consumer.exchange} keys={keys} "
            f"share={consumer.share_text or 'all'} prefetch={consumer.prefetch} batch={consumer.batch_size}"
        )
        thread = threading.Thread(target=consumer.run, name="uof-consumer")
        thread.start()
        last, last_count = time.monotonic(), 0
        while thread.is_alive():
            thread.join(opts["stats_every"])
            now = time.monotonic()
            s = consumer.stats
            rate = (s.messages - last_count) / max(now - last, 1e-9)
            last, last_count = now, s.messages
            self.stdout.write(
                f"  {s.messages} messages ({rate:.0f}/s) in {s.batches} batches, outcomes {s.outcomes}, "
                f"reconnects {s.reconnects}, other shares skipped {s.skipped}, "
                f"last batch {s.last_batch_seconds * 1000:.1f} ms"
            )
        self.stdout.write("uof_consume: stopped")
