"""The server entry points leave their start-up objects out of full collections (config/gcfreeze.py)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.gcfreeze import freeze_startup_objects

ROOT = Path(__file__).resolve().parent.parent
_REPORT = (
    "import gc, sys, time; import {module}; frozen, left = gc.get_freeze_count(), len(gc.get_objects());"
    " started = time.perf_counter(); gc.collect(); ms = (time.perf_counter() - started) * 1000;"
    " print(frozen, left, ms)"
)


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_a_server_process_walks_only_what_it_made_after_starting(module: str) -> None:
    """As a granian (or uvicorn) worker loads it, in a fresh process: what importing the entry
    point built is frozen, so a full collection walks almost nothing."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "TOUCHLINE_DEMO": "true"}
    result = subprocess.run(
        [sys.executable, "-c", _REPORT.format(module=module)],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    frozen, left, _ = result.stdout.split()
    assert int(frozen) > 50_000  # Django, the apps, the URL patterns: ~137,000 for the callback server
    assert int(left) < 1_000


def test_garbage_made_while_starting_is_freed_not_frozen() -> None:
    class Cycle:
        pass

    gc.collect()
    before = gc.get_freeze_count()
    cycle = Cycle()
    cycle.me = cycle
    alive = Cycle()
    del cycle
    try:
        frozen = freeze_startup_objects()
        assert frozen > before
        assert not any(type(o) is Cycle for o in gc.get_objects()), "nothing left unfrozen but what is made after"
        alive.later = [Cycle()]
        assert sum(type(o) is Cycle for o in gc.get_objects()) == 1  # only the one made after the freeze
    finally:
        gc.unfreeze()
    assert sum(type(o) is Cycle for o in gc.get_objects()) == 2  # the collected cycle is gone: `alive` and its list's
