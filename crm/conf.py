"""Settings of the Fast Track export that config/settings.py does not carry.

The connection settings (FASTTRACK_TRANSPORT, FASTTRACK_API_URL, FASTTRACK_API_KEY,
FASTTRACK_AMQP_URL, FASTTRACK_KAFKA_BOOTSTRAP, FASTTRACK_ORIGIN) live in config/settings.py
and are read from django.conf.settings at call time, so tests can override them. The knobs
below are read once from the environment, each with a default that lets the demo run with
nothing set; tests override them by patching this module's attributes.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_str

# Write outbox rows at all. With FASTTRACK_TRANSPORT=off rows are still written (and wait),
# so switching the transport on later delivers the backlog in order.
OUTBOX_ENABLED = env_bool("FASTTRACK_OUTBOX_ENABLED", True)

# Prefix of every activity_id we mint: tl-bet-42, tl-settle-7, tl-result-99.
ACTIVITY_PREFIX = env_str("FASTTRACK_ACTIVITY_PREFIX", "tl")

# A 4xx (other than 408/425/429) is dead at once. An outage of the endpoint never counts an
# attempt (crm/breaker.py); an event that keeps failing while the endpoint accepts others in
# the same round is dead-lettered after this many such failures.
MAX_ATTEMPTS = env_int("FASTTRACK_MAX_ATTEMPTS", 10, minimum=1)
# Backoff between attempts of one row: base * 2^(attempts-1), capped.
RETRY_BASE_SECONDS = env_int("FASTTRACK_RETRY_BASE_SECONDS", 2, minimum=0)
RETRY_MAX_SECONDS = env_int("FASTTRACK_RETRY_MAX_SECONDS", 300, minimum=1)

# Rows claimed by one worker in one go (heads of that many players, plus followers).
BATCH_SIZE = env_int("FASTTRACK_BATCH_SIZE", 100, minimum=1)
# Consecutive rows of one player claimed together behind its head.
PLAYER_RUN = env_int("FASTTRACK_PLAYER_RUN", 10, minimum=0)
# A claim is a lease, renewed after every wave of sends: a worker that dies mid-batch loses its
# unsent rows after this long (sent rows are recorded after each wave, at least every second).
LEASE_SECONDS = env_int("FASTTRACK_LEASE_SECONDS", 30, minimum=10)
# While the endpoint is unavailable, one worker probes it this often (crm/breaker.py).
PROBE_SECONDS = env_int("FASTTRACK_PROBE_SECONDS", 2, minimum=1, maximum=60)
# A worker records what it sent at least this often (seconds of sending between two records).
FLUSH_SECONDS = 1.0
# On-commit kicks: each process asks the broker for a delivery at most once per this many
# milliseconds, and once more after its last commit (crm/tasks.py). 0 = ask on every commit.
KICK_INTERVAL_MS = env_int("FASTTRACK_KICK_INTERVAL_MS", 100, minimum=0, maximum=1000)
# A queued delivery task starts this many milliseconds after the kick that queued it, and every
# commit meanwhile rides on it (the kick flag, crm/tasks.py): one task and one batch for all of
# them instead of a small task per kick. A small batch costs the worker several times more CPU
# per event (the claim and the record are paid per batch; docs/benchmarks/crm.md), and that
# CPU is taken from the wallet callbacks on the same cores. Fast Track asks for each event
# within 1 s: kick interval + this delay + one batch stays well under it.
DELIVERY_DELAY_MS = env_int("FASTTRACK_DELIVERY_DELAY_MS", 250, minimum=0, maximum=700)
# Beat sweeper period: retries due rows, recovers expired leases.
SWEEP_SECONDS = env_int("FASTTRACK_SWEEP_SECONDS", 10, minimum=1)

# REST: seconds to connect / to wait for the answer.
HTTP_CONNECT_TIMEOUT = env_int("FASTTRACK_HTTP_CONNECT_TIMEOUT", 3, minimum=1)
HTTP_TIMEOUT = env_int("FASTTRACK_HTTP_TIMEOUT", 10, minimum=1)
# REST: requests in flight at once within a wave (one connection each, kept alive).
REST_CONNECTIONS = env_int("FASTTRACK_REST_CONNECTIONS", 16, minimum=1, maximum=64)

# RabbitMQ: where messages go (FT supplies both at onboarding).
AMQP_EXCHANGE = env_str("FASTTRACK_AMQP_EXCHANGE", "fasttrack")
AMQP_ROUTING_KEY = env_str("FASTTRACK_AMQP_ROUTING_KEY", "sportsbook")
AMQP_CONFIRM_TIMEOUT = env_int("FASTTRACK_AMQP_TIMEOUT", 10, minimum=1)

# Kafka: topic (FT supplies it at onboarding).
KAFKA_TOPIC = env_str("FASTTRACK_KAFKA_TOPIC", "sportsbook")
KAFKA_TIMEOUT = env_int("FASTTRACK_KAFKA_TIMEOUT", 10, minimum=1)

# Export test players too (Player.is_test). Off: their bets never reach Fast Track.
EXPORT_TEST_PLAYERS = env_bool("FASTTRACK_EXPORT_TEST_PLAYERS", False)

# exchange_rate: the factor that converts an amount in the event's currency into Fast Track's
# base currency. The base currency is 1; others come from FASTTRACK_EXCHANGE_RATES
# ("USD=0.92,GBP=1.17"). A currency without a rate is dead-lettered at delivery, never guessed.
BASE_CURRENCY = env_str("FASTTRACK_BASE_CURRENCY", "EUR")


def _parse_rates(text: str) -> dict[str, Decimal]:
    rates: dict[str, Decimal] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        code, sep, value = item.partition("=")
        try:
            rate = Decimal(value.strip())
        except InvalidOperation:
            rate = Decimal(0)
        if not sep or not code.strip() or not rate.is_finite() or rate <= 0:
            raise ImproperlyConfigured(
                f"Environment variable FASTTRACK_EXCHANGE_RATES has a bad item {item!r}: expected CODE=positive-decimal."
            )
        rates[code.strip().upper()] = rate
    return rates


EXCHANGE_RATES = _parse_rates(env_str("FASTTRACK_EXCHANGE_RATES", ""))


def exchange_rate(currency: str) -> Decimal | None:
    """The configured rate of `currency` into the base currency, or None when unknown."""
    if currency == BASE_CURRENCY:
        return Decimal(1)
    return EXCHANGE_RATES.get(currency)
