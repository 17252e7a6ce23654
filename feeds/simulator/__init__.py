"""A local Unified Odds Feed: realistic traffic on the wire format, and a fake REST API.

FeedSimulator publishes, with correct routing keys:
  - the shared sample messages (feeds/simdata/uof, byte-identical copies of tests/fixtures/uof);
  - generated soccer matches: a fixture_change for each new match, prematch odds (producer 3),
    hand-over to live (producer 1), live odds changes, bet stops around goals, the end of the
    match with settlements (scouted, then confirmed), occasional cancels with a window and their
    rollbacks, settlement rollbacks with a re-settlement;
  - alives every 10 s per producer, producer outages (silence or subscribed=0), and the answer
    to recovery requests: the requested producer's current odds tagged with the request_id,
    then snapshot_complete.
It publishes through a sink: AmqpSink (RabbitMQ exchange) or DirectSink (the apply pipeline,
in-process, for the embedded demo without a broker).

FakeUofApi is a small threaded HTTP server speaking the REST API: whoami, producers (api_url
pointing back at itself), market/variant descriptions, fixtures of simulated and sample events,
code lists, and recovery requests (producer and event), checking x-access-token.

Where each part lives:
  - samples.py: the shared sample messages (SIMDATA, FEED_SAMPLES) and routing_key_for;
  - sinks.py: where published messages go (AmqpSink, DirectSink, ListSink);
  - matches.py: the simulated matches: teams, markets, the odds model and the results;
  - feed.py: FeedSimulator, the traffic (every message it publishes is built there);
  - api.py: FakeUofApi, the REST API.
"""

from feeds.simulator.api import FakeUofApi
from feeds.simulator.feed import FeedSimulator
from feeds.simulator.matches import LIVE, PREMATCH
from feeds.simulator.samples import FEED_SAMPLES, SIMDATA, now_ms, routing_key_for, sample_bytes
from feeds.simulator.sinks import AmqpSink, DirectSink, ListSink, Sink

__all__ = [
    "FEED_SAMPLES", "LIVE", "PREMATCH", "SIMDATA", "AmqpSink", "DirectSink", "FakeUofApi", "FeedSimulator", "ListSink",
    "Sink", "now_ms", "routing_key_for", "sample_bytes",
]  # fmt: skip
