"""The feed demo: the simulator, the fake REST API and a consumer, until stop is set.

With UOF_AMQP_URL set, the simulator publishes to RabbitMQ (exchange UOF_EXCHANGE) and an
in-process Consumer reads it, exactly as `uof_consume` would. Without it (embedded defaults),
the simulator hands its messages straight to the same apply pipeline. Either way this loop
also runs the producer health check and fixture fetching (what Celery beat does in
production), against the fake API, so producers go down, recover and come back up on screen.
"""

from __future__ import annotations

import logging
import threading
import time

from feeds import conf
from feeds.protocol.client import UofClient
from feeds.protocol.errors import UofApiError
from feeds.services import client_override, descriptions, fixtures, producers

logger = logging.getLogger("touchline.feeds.demo")

DEMO_TOKEN = "touchline-demo-uof-token"


def run_demo(
    base_url: str, stop: threading.Event, *, rate: float = 20.0, events: int = 6, outage_every: float = 120.0
) -> None:
    """base_url is the Touchline server (unused: the feed needs no HTTP from Touchline)."""
    from feeds.consumer import Consumer
    from feeds.simulator import AmqpSink, DirectSink, FakeUofApi, FeedSimulator

    token = conf.access_token() or DEMO_TOKEN
    api = FakeUofApi(token=token)
    api_url = api.start()
    client = UofClient(api_url, token, timeout=5)
    client_override(client)
    consumer: Consumer | None = None
    consumer_thread: threading.Thread | None = None
    amqp_url = conf.amqp_url()
    try:
        try:
            producers.producers_sync(client)
            descriptions.descriptions_refresh(client, force=True)
        except UofApiError as exc:
            logger.warning("demo: REST setup failed: %s", exc)
        if amqp_url:
            consumer = Consumer(url=amqp_url, stop=stop, declare_exchange=True, after_commit=None)
            consumer_thread = threading.Thread(target=consumer.run, name="uof-consumer", daemon=True)
            consumer_thread.start()
            consumer.ready.wait(10)
            sink = AmqpSink(amqp_url, conf.EXCHANGE)
        else:
            producers.producers_mark_down("demo started")
            sink = DirectSink()
        sim = FeedSimulator(sink, events=events, rate=rate, node_id=conf.node_id(), outage_every=outage_every)
        api.simulator = sim
        sim.publish_samples()
        last_check = last_fixtures = 0.0
        while not stop.is_set():
            sim.step()
            now = time.monotonic()
            if now - last_check >= 2:
                last_check = now
                report = producers.producers_check(client)
                if report.went_down or report.requested:
                    logger.info("demo: producers down %s, recoveries %s", report.went_down, report.requested)
            if now - last_fixtures >= 5:
                last_fixtures = now
                fixtures.fixtures_fetch(client)
            stop.wait(0.1)
        sink.close()
    finally:
        stop.set()
        if consumer_thread is not None:
            consumer_thread.join(10)
        client_override(None)
        client.close()
        api.stop()
