"""Process handling for the fault-injection bench (bench/faults.py): the README's process
commands, a restartable process group, and stopping/starting the machine's PostgreSQL and Redis."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_command(process: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    for line in text[text.index("## Processes") :].splitlines():
        if line.startswith(f"| {process}"):
            return shlex.split(line.split("|")[2].strip().split("`")[1])
    raise SystemExit(f"no {process!r} row in README's process table")


def log(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)


class Managed:
    """One long-lived process, in its own process group, restartable."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.logfile = logdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        out = self.logfile.open("a")
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL the whole process group: the server and its workers die at once."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM to the server itself: it stops its workers (a warm shutdown for Celery)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def children(self) -> list[int]:
        if not self.proc or self.proc.poll() is not None:
            return []
        found: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return found

    def text(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""


def wait_http(port: int, timeout: float = 60) -> float:
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"nothing answers on port {port} after {timeout}s")


# --- Faults -------------------------------------------------------------------------------------


def restart_postgres() -> float:
    started = time.monotonic()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"], check=True)
    return time.monotonic() - started


def redis_cli(*args: str) -> str:
    return subprocess.run(["redis-cli", "-p", "6379", *args], capture_output=True, text=True).stdout.strip()


def stop_redis() -> list[str]:
    """Stop the machine's Redis; returns the command that starts it again as it was."""
    directory = redis_cli("config", "get", "dir").splitlines()[-1]
    start = ["redis-server", "--port", "6379", "--bind", "127.0.0.1", "--daemonize", "yes", "--save", ""]
    start += ["--appendonly", "no", "--dir", directory]
    redis_cli("shutdown", "nosave")
    return start


def start_redis(command: list[str]) -> None:
    subprocess.run(command, check=False)
    for _ in range(100):
        if redis_cli("ping") == "PONG":
            return
        time.sleep(0.1)
    raise SystemExit(f"Redis did not come back: start it with {shlex.join(command)}")
