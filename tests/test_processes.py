"""Each server in README's process table survives the death of one of its workers.

The commands are read from README.md itself (only the worker count and the port are changed),
so the documented flags are the ones tested: a worker is killed with SIGKILL, the others keep
answering, and a new worker takes its place."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from config.ports import listen_port
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def readme_command(process: str) -> list[str]:
    """The command of `process` in README's "Processes" table, as argv."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("## Processes") :]
    for line in table.splitlines():
        if line.startswith(f"| {process}"):
            return shlex.split(line.split("|")[2].strip().split("`")[1])
    raise AssertionError(f"no {process!r} row in README's process table")


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


class Server:
    def __init__(self, argv: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> None:
        self.log = tmp_path / "server.log"
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **(env or {})},
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def kill_one_and_check(server: Server, port: int, worker_pids, workers: int) -> None:
    wait_for(lambda: len(worker_pids()) >= workers and answers(port), timeout=60)
    before = worker_pids()
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: answers(port), timeout=5)  # the others answer meanwhile
    assert time.monotonic() - killed_at < 5
    wait_for(lambda: len(worker_pids() - {victim}) >= workers, timeout=30)  # and it was replaced
    assert server.proc.poll() is None, server.output()
    assert answers(port)


def test_granian_respawns_a_killed_worker(tmp_path):
    argv = readme_command("provider callbacks")
    assert "--respawn-failed-workers" in argv
    argv[argv.index("--workers") + 1] = "2"
    port = listen_port()
    server = Server([str(BIN / argv[0]), *argv[1:-1], "--port", str(port), argv[-1]], tmp_path)

    def worker_pids() -> set[int]:
        spawned = {int(pid) for pid in re.findall(r"with pid: (\d+)", server.output(), re.IGNORECASE)}
        return spawned & children(server.proc.pid)

    try:
        kill_one_and_check(server, port, worker_pids, workers=2)
    finally:
        server.stop()


def test_gunicorn_respawns_a_killed_worker(tmp_path):
    argv = readme_command("web")
    argv[argv.index("-w") + 1] = "2"
    port = listen_port()
    server = Server([str(BIN / argv[0]), *argv[1:], "--bind", f"127.0.0.1:{port}"], tmp_path)

    def worker_pids() -> set[int]:
        return children(server.proc.pid)

    try:
        kill_one_and_check(server, port, worker_pids, workers=2)
    finally:
        server.stop()


@pytest.mark.redis
def test_the_celery_pool_replaces_a_killed_child(tmp_path):
    import redis

    url = os.environ.get("TOUCHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis is not reachable at {url}")
    argv = readme_command("Celery worker")
    queue = f"tl_processes_{os.getpid()}"
    server = Server(
        [str(BIN / argv[0]), *argv[1:], "--concurrency", "2", "-Q", queue, "--without-gossip", "--without-mingle"],
        tmp_path,
        env={"CELERY_BROKER_URL": url},
    )
    try:
        wait_for(lambda: "ready." in server.output() and len(children(server.proc.pid)) >= 2, timeout=60)
        before = children(server.proc.pid)
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(children(server.proc.pid) - {victim}) >= 2, timeout=30)
        assert server.proc.poll() is None, server.output()
    finally:
        server.stop()
