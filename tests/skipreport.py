"""A pytest plugin for `scripts/dev.py test`: writes what was skipped, grouped by reason, to the
JSON file named by TOUCHLINE_SKIP_REPORT, so the test command can end by saying what did not run
and why (pytest's own summary lists skips one by one, in the middle of its output)."""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

_counts: Counter[str] = Counter()


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ").strip()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = (yield).get_result()
    if report.skipped and (item.get_closest_marker("postgres") or "postgres_only" in getattr(item, "fixturenames", ())):
        report.user_properties.append(("postgres_only", True))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = _reason(report)
        if ("postgres_only", True) in report.user_properties and "PostgreSQL" not in reason:
            reason = f"needs PostgreSQL: {reason}"
        _counts[reason] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("TOUCHLINE_SKIP_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(_counts), f)
