import logging

from config.logthrottle import Throttled


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_one_line_per_cause_per_interval_with_a_count(caplog):
    clock = Clock()
    log = Throttled(logging.getLogger("t.throttle"), interval=60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="t.throttle"):
        assert log.warning("redis", "kick failed: %s", "down")
        for _ in range(3110):
            assert not log.warning("redis", "kick failed: %s", "down")
        assert log.warning("sig", "bad signature from %s", "1.2.3.4")  # another cause is not held back
        clock.now += 61
        assert log.warning("redis", "kick failed: %s", "down")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "kick failed: down",
        "bad signature from 1.2.3.4",
        "kick failed: down (3110 more since the last line)",
    ]


def test_traceback_only_on_written_lines(caplog):
    clock = Clock()
    log = Throttled(logging.getLogger("t.throttle2"), interval=10, clock=clock)
    with caplog.at_level(logging.ERROR, logger="t.throttle2"):
        for _ in range(5):
            try:
                raise ConnectionError("refused")
            except ConnectionError:
                log.error("c", "delivery failed", exc_info=True)
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None
