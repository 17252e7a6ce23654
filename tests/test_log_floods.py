"""An outage writes one log line per cause per interval, with a count, not one per request,
kick, task or retry (Redis down for 60 s once wrote 3,111 tracebacks)."""

from __future__ import annotations

import logging

from django.db import OperationalError

from config import dashboard
from config.logthrottle import Throttled
from crm import services, tasks


def lines(caplog, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_kicks_while_redis_is_down_log_once(caplog, monkeypatch):
    monkeypatch.setattr(tasks, "throttled", Throttled(tasks.logger))

    def redis_down() -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    kicker = tasks.Kicker(redis_down, lambda: 0.0)  # every commit asks the broker
    for _ in range(1000):
        kicker()  # never raises into the committing request
    (line,) = lines(caplog, "outbox kick failed")
    assert line.levelno == logging.ERROR and line.exc_info  # the first one, with its traceback

    monkeypatch.setattr(tasks.throttled, "_clock", lambda: float("inf"))  # a minute later
    kicker()
    assert "(999 more since the last line)" in lines(caplog, "outbox kick failed")[-1].getMessage()


def test_delivery_tasks_while_the_database_is_down_log_once(caplog, monkeypatch):
    monkeypatch.setattr(tasks, "throttled", Throttled(tasks.logger))
    monkeypatch.setattr(tasks, "current_transport", lambda: object())

    def database_down(**kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(services, "deliver_pending", database_down)
    for _ in range(200):
        assert tasks.deliver_outbox() == 0  # no traceback per task from Celery either: it returns
    assert len(lines(caplog, "outbox delivery failed")) == 1


def test_a_failing_dashboard_section_logs_once(caplog, monkeypatch):
    monkeypatch.setattr(dashboard, "_throttled", Throttled(dashboard.logger))

    def database_down():
        raise OperationalError("the database is restarting")

    monkeypatch.setitem(dashboard._providers, "broken", database_down)
    for _ in range(100):  # beat broadcasts every 2 s
        snapshot = dashboard.snapshot()
    assert len(lines(caplog, "dashboard provider broken failed")) == 1
    broken = next(s for s in snapshot["sections"] if s["section"] == "broken")
    assert broken["metrics"][0]["status"] == "bad"
