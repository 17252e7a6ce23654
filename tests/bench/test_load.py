"""The load generator's statistics (bench/_http_load.py)."""

from __future__ import annotations

from bench._http_load import Stats


def test_the_slowest_requests_are_placed_in_the_windows_they_were_due_in() -> None:
    stats = Stats()
    for n in range(1000):  # 10 s, one request every 10 ms; the 10 slowest all due within 0.2 s
        stats.add("bet", 50.0 + n if 400 <= n < 410 else 5.0, at=n / 100)
    assert stats.slowest_windows() == (10, 1, 100)
    spread = Stats()
    for n in range(1000):  # the same 10 slow requests, one a second
        spread.add("bet", 50.0 if n % 100 == 0 else 5.0, at=n / 100)
    assert spread.slowest_windows() == (10, 10, 100)
