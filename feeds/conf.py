"""Feed settings. UOF_AMQP_URL, UOF_API_URL, UOF_ACCESS_TOKEN and UOF_NODE_ID live in
config/settings.py; everything else here, each with a default that runs the demo.

Code reads these as `conf.NAME` at call time, so tests can monkeypatch them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_choice, env_int, env_list, env_str
from feeds.protocol.routing import PRESETS


def amqp_url() -> str:
    return settings.UOF_AMQP_URL


def api_url() -> str:
    return settings.UOF_API_URL


def access_token() -> str:
    return settings.UOF_ACCESS_TOKEN


def node_id() -> int:
    return settings.UOF_NODE_ID


# --- AMQP consumer ---------------------------------------------------------------------------
EXCHANGE = env_str("UOF_EXCHANGE", "unifiedfeed")
# Which messages to bind: all | live | prematch | virtual | liveandprematch (see protocol/routing.py).
ROUTING = env_choice("UOF_ROUTING", "all", tuple(PRESETS))
# Limit bindings to these sport ids (e.g. "1,2"); empty: all sports.
SPORTS = tuple(int(s) for s in env_list("UOF_SPORTS", []))
# Explicit binding keys; when set they replace ROUTING/SPORTS.
ROUTING_KEYS = tuple(env_list("UOF_ROUTING_KEYS", []))
# Unacked messages the broker may push to us; bounds memory and what a crash replays.
PREFETCH = env_int("UOF_PREFETCH", 4000, minimum=1, maximum=65535)
# Messages applied per database transaction, and how long to wait to fill a batch.
BATCH_SIZE = env_int("UOF_BATCH_SIZE", 1000, minimum=1, maximum=10000)
BATCH_WAIT_MS = env_int("UOF_BATCH_WAIT_MS", 50, minimum=0, maximum=10000)
# When messages trickle in, let them gather this long between socket reads: pika's cost per
# read dominates at a few hundred messages a second (measured 225 -> 91 us/msg at 500 msg/s).
POLL_INTERVAL_MS = env_int("UOF_POLL_INTERVAL_MS", 10, minimum=0, maximum=1000)
RECONNECT_MAX_SECONDS = env_int("UOF_RECONNECT_MAX_SECONDS", 60, minimum=1)
HEARTBEAT_SECONDS = env_int("UOF_HEARTBEAT_SECONDS", 30, minimum=0)
MAX_MESSAGE_BYTES = env_int("UOF_MAX_MESSAGE_BYTES", 4_000_000, minimum=1024)

# --- Producer health and recovery ---------------------------------------------------------------
# No alive for this long: the producer is down (official SDK: 20 s; older docs: 15 s).
ALIVE_WINDOW_SECONDS = env_int("UOF_ALIVE_WINDOW_SECONDS", 20, minimum=1)
# `after` reaches back at most the producer's window minus this margin (SDK: 10 min).
RECOVERY_MARGIN_MINUTES = env_int("UOF_RECOVERY_MARGIN_MINUTES", 10, minimum=0)
# Cap on how far back any recovery reaches, in minutes (0: the producer's own window).
MAX_RECOVERY_MINUTES = env_int("UOF_MAX_RECOVERY_MINUTES", 0, minimum=0)
# SDK defaults: 30 s between requests per producer; give up an unfinished recovery after
# 1200 s, or after 300 s without any message for it.
RECOVERY_MIN_INTERVAL_SECONDS = env_int("UOF_RECOVERY_MIN_INTERVAL_SECONDS", 30, minimum=0)
RECOVERY_TIMEOUT_SECONDS = env_int("UOF_RECOVERY_TIMEOUT_SECONDS", 1200, minimum=1)
RECOVERY_SILENCE_SECONDS = env_int("UOF_RECOVERY_SILENCE_SECONDS", 300, minimum=1)
# A consumer (FeedConsumer row) without a heartbeat for this long is taken for dead: its share
# of the feed is missing, producers go down and no recovery is asked until it is back.
CONSUMER_SILENCE_SECONDS = env_int("UOF_CONSUMER_SILENCE_SECONDS", 30, minimum=5)
# Beat interval of the producer health check.
CHECK_INTERVAL_SECONDS = env_int("UOF_CHECK_INTERVAL_SECONDS", 5, minimum=1)


# --- Freshness for pricing ----------------------------------------------------------------------
# A line is fresh while its producer has been up without interruption since the line's odds
# came (feeds.selectors.line_freshness). Optional maximum age on top, per producer or
# producer/sport: "1=60,3=0,3/1=3600" (seconds; 0 or absent: no maximum).
def _max_ages(raw: list[str]) -> dict[tuple[int, int | None], int]:
    ages: dict[tuple[int, int | None], int] = {}
    for item in raw:
        key, sep, seconds = item.partition("=")
        producer, _, sport = key.partition("/")
        try:
            ages[(int(producer), int(sport) if sport else None)] = int(seconds)
            if not sep or int(seconds) < 0:
                raise ValueError
        except ValueError:
            raise ImproperlyConfigured(
                f"UOF_ODDS_MAX_AGE item {item!r} is not 'producer=seconds' or 'producer/sport=seconds'"
            ) from None
    return ages


ODDS_MAX_AGE = _max_ages(env_list("UOF_ODDS_MAX_AGE", []))

# --- REST API ----------------------------------------------------------------------------------
LANG = env_str("UOF_LANG", "en")
API_TIMEOUT_SECONDS = env_int("UOF_API_TIMEOUT_SECONDS", 10, minimum=1)
# Fixtures fetched per beat run (new events and events after a fixture_change).
FIXTURE_FETCH_BATCH = env_int("UOF_FIXTURE_FETCH_BATCH", 20, minimum=1)
DESCRIPTIONS_MAX_AGE_HOURS = env_int("UOF_DESCRIPTIONS_MAX_AGE_HOURS", 24, minimum=1)

# --- Journal -------------------------------------------------------------------------------------
# all: keep every raw body; errors: keep bodies only of messages that were not applied
# (metadata rows are written for every message either way).
JOURNAL_BODIES = env_choice("UOF_JOURNAL_BODIES", "all", ("all", "errors"))
JOURNAL_RETENTION_HOURS = env_int("UOF_JOURNAL_RETENTION_HOURS", 72, minimum=1)
