"""`manage.py simulators`: the five outside systems, served on localhost for real processes.

`manage.py demo` runs each simulator inside its own process. This command serves them to
separately started processes instead (the Procfile set; `scripts/dev.py prod-check`):

- IGPX's API (auth, start-session) over HTTP;
- Betradar's Unified Odds Feed: messages published to RabbitMQ (UOF_AMQP_URL, exchange
  UOF_EXCHANGE) and the REST API (recoveries, fixtures, descriptions) over HTTP;
- ProphetX: REST and the Pusher WebSocket, its events mapped in this database;
- Fast Track: the REST integration endpoint, validating what it receives.

(Betsy and IGPX call *us*: their traffic comes from the caller, e.g. `igpx_simulate`.)

It prints, and with --env-file writes, the variables that point the processes at them, then
runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve IGPX, UOF, ProphetX and Fast Track simulators on localhost and print the variables to use them."

    def add_arguments(self, parser):
        parser.add_argument("--amqp-url", default="", help="RabbitMQ for the feed (default: UOF_AMQP_URL)")
        parser.add_argument("--env-file", default="", help="also write the variables here (KEY=VALUE lines)")
        parser.add_argument("--feed-rate", type=float, default=5.0, help="odds messages per second")
        parser.add_argument("--stats-every", type=float, default=30.0, help="seconds between progress lines")

    def handle(self, *args, amqp_url: str, env_file: str, feed_rate: float, stats_every: float, **options):
        from crm.simulator import FastTrackSimulator
        from feeds import conf as feeds_conf
        from feeds.simulator import AmqpSink, FakeUofApi, FeedSimulator
        from parlays.demo import map_simulator_events
        from parlays.simulator import ProphetXSimulator
        from wallet.igpx.simulator import FakeIgpxApi

        amqp_url = amqp_url or feeds_conf.amqp_url()
        if not amqp_url:
            raise CommandError("the feed simulator needs RabbitMQ: set UOF_AMQP_URL or pass --amqp-url")
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}

        igpx = FakeIgpxApi(username="touchline", password=secrets.token_urlsafe(16)).start()
        fasttrack_key = secrets.token_urlsafe(16)
        fasttrack = FastTrackSimulator(api_key=fasttrack_key).start()
        prophetx = ProphetXSimulator().start()
        map_simulator_events(prophetx)
        sink = AmqpSink(amqp_url, feeds_conf.EXCHANGE)  # declares the exchange, as Betradar's exists
        feed = FeedSimulator(sink, events=4, rate=feed_rate, node_id=feeds_conf.node_id())
        uof_token = secrets.token_urlsafe(16)
        uof_api = FakeUofApi(token=uof_token, simulator=feed)
        env = {
            "IGPX_API_URL": igpx.base_url,
            "IGPX_USERNAME": igpx.username,
            "IGPX_PASSWORD": igpx.password,
            "UOF_AMQP_URL": amqp_url,
            "UOF_API_URL": uof_api.start(),
            "UOF_ACCESS_TOKEN": uof_token,
            **prophetx.env(),
            # The simulated ProphetX games have no Betradar odds behind them: price from the simulator.
            "PROPHETX_PRICE_SOURCE": "parlays.demo.simulated_price_source",
            "FASTTRACK_TRANSPORT": "rest",
            "FASTTRACK_API_URL": fasttrack.url,
            "FASTTRACK_API_KEY": fasttrack_key,
        }
        text = "".join(f"{key}={value}\n" for key, value in env.items())
        if env_file:
            partial = Path(env_file).with_suffix(".partial")
            partial.write_text(text)
            partial.replace(env_file)  # whoever waits for the file never reads half of it
        self.stdout.write(text + "simulators: serving; Ctrl-C stops them")
        try:
            feed.publish_samples()
            started = last = time.monotonic()
            while not stop.is_set():
                feed.step()
                if time.monotonic() - last >= stats_every:
                    last = time.monotonic()
                    self.stdout.write(
                        f"simulators: {last - started:.0f}s, feed messages {sink.sent}, "
                        f"Fast Track events received {len(fasttrack.received)}"
                    )
                stop.wait(0.05)
        finally:
            sink.close()
            uof_api.stop()
            prophetx.stop()
            fasttrack.stop()
            igpx.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write(f"simulators: stopped; Fast Track received {len(fasttrack.received)} events")
