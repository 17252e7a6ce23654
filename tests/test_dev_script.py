"""`scripts/dev.py test`, the README's test command, ends by saying what it skipped and why."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_test_command_ends_with_the_skipped_tests_grouped_by_reason():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_TEST_NAME")}
    # On SQLite: one PostgreSQL-only module by fixture, one by skipif with a reason of its own.
    command = [sys.executable, "scripts/dev.py", "test", "-p", "no:cacheprovider", "-q"]
    command += ["tests/crm/test_concurrency.py", "tests/test_db_backend.py"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout[result.stdout.rindex("==> skipped") :]
    total = re.match(r"==> skipped (\d+) tests:\n", summary)
    grouped = re.search(r"^ +(\d+) PostgreSQL-only tests: set DATABASE_URL=postgres://… to run them$", summary, re.M)
    assert total and grouped, result.stdout
    assert int(total.group(1)) == int(grouped.group(1)) > 1  # both modules, in one group
