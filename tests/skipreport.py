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


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _counts[_reason(report)] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("TOUCHLINE_SKIP_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(_counts), f)
