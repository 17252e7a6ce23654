"""The demo as a newcomer runs it: started from a terminal, a status line every few seconds,
Ctrl-C, exit 0 and no traceback. Both ways in: `scripts/dev.py demo` (which migrates first and
passes Ctrl-C on to its child) and `manage.py demo` itself, on a SQLite file of their own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from config.ports import listen_port

ROOT = Path(__file__).resolve().parent.parent
STATUS = re.compile(r"^\[\d\d:\d\d\] bets \d+")
# Anything that would point the demo at a server instead of its embedded defaults.
SERVER_SETTINGS = ("REDIS_URL", "CELERY_BROKER_URL", "UOF_AMQP_URL", "FASTTRACK_TRANSPORT", "PROMETHEUS_MULTIPROC_DIR")


def run_demo_until_status_then_interrupt(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    child = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines: list[str] = []
    status_seen = threading.Event()

    def read() -> None:
        for line in child.stdout:
            lines.append(line)
            if STATUS.match(line):
                status_seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert status_seen.wait(180), "no status line within 180 s:\n" + "".join(lines)
        child.send_signal(signal.SIGINT)
        code = child.wait(60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    reader.join(5)
    return code, "".join(lines)


def test_demo_shows_status_lines_and_stops_cleanly_on_ctrl_c(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in SERVER_SETTINGS}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    log = tmp_path / "demo.log"
    for command in (
        [sys.executable, "scripts/dev.py", "demo"],  # migrates the new database first
        [sys.executable, "manage.py", "demo"],
    ):
        code, output = run_demo_until_status_then_interrupt(
            [*command, "--port", str(listen_port()), "--log-file", str(log)], env
        )
        assert code == 0, output
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
        assert f"Logs:        {log}" in output
        assert output.rstrip().endswith("Stopped.")
        # Expected situations do not read as errors, and the log lines went to the file.
        logged = log.read_text()
        assert "Not Found:" not in logged and "Not Found:" not in output
        assert " INFO " in logged and " INFO " not in output
