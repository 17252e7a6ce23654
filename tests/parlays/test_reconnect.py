"""Reconnecting to ProphetX's WebSocket: jittered exponential backoff, capped near 10 s."""

import random

from parlays.listener import RECONNECT_CAP_S, reconnect_delay


def _rejoin_after_outage(outage_s: float, rng: random.Random, max_backoff_s: float = 30.0) -> float:
    """Seconds between the server coming back and our next attempt."""
    t, attempt = 0.0, 0
    while t < outage_s:
        t += reconnect_delay(attempt, max_backoff_s, rng)
        attempt += 1
    return t - outage_s


def test_a_server_back_after_a_minute_is_rejoined_within_ten_seconds():
    rng = random.Random(7)
    waits = [_rejoin_after_outage(60.0, rng) for _ in range(500)]
    assert max(waits) <= RECONNECT_CAP_S == 10.0
    assert sum(waits) / len(waits) < 6.0


def test_backoff_grows_from_half_a_second_and_is_jittered():
    rng = random.Random(1)
    first = [reconnect_delay(0, 30.0, rng) for _ in range(200)]
    assert 0.25 <= min(first) and max(first) <= 0.5 and len({round(d, 6) for d in first}) > 150
    assert all(5.0 <= reconnect_delay(attempt, 30.0, rng) <= 10.0 for attempt in range(5, 60))


def test_the_setting_can_only_lower_the_cap():
    rng = random.Random(3)
    assert all(reconnect_delay(20, 2.0, rng) <= 2.0 for _ in range(50))
    assert all(reconnect_delay(20, 120.0, rng) <= 10.0 for _ in range(50))
