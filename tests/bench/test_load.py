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


def test_the_load_generators_own_stalls_are_seen() -> None:
    """A blocking pause of the event loop (what a long garbage collection or a starved client
    does) shows as loop lag; collections while the watch is installed are timed."""
    import asyncio
    import gc
    import time

    from bench._http_load import GcWatch, watch_loop

    stats = Stats()

    async def run() -> None:
        start = time.perf_counter()

        async def stall() -> None:
            await asyncio.sleep(0.05)
            time.sleep(0.03)  # blocks the loop

        await asyncio.gather(watch_loop(stats, start, start + 0.15), stall())

    watch = GcWatch(stats)
    gc.callbacks.append(watch)
    try:
        asyncio.run(run())
        gc.collect()
    finally:
        gc.callbacks.remove(watch)
    assert max(stats.loop_lag) >= 25
    assert sum(lag > 10 for lag in stats.loop_lag) == 1
    assert stats.gc_pauses and all(pause >= 0 for pause in stats.gc_pauses)
