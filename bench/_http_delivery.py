"""Fast Track delivery during a wallet HTTP benchmark, as in production: a real Celery worker on
Redis consuming the callbacks' delivery kicks, delivering to a fake Fast Track.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The application_name (libpq's PGAPPNAME) of the delivery worker's connections, so that
# PostgreSQL's CPU for the delivery is told from its CPU for the callbacks (bench/_http_report.py).
DELIVERY_APP = "bench crm worker"

# Why outbox rows were set aside (`set_aside_pending`), as their last_error: no kick delivers them.
PGBENCH, TRANSPORT_OFF = "pgbench", "transport off"
SET_ASIDE = (PGBENCH, TRANSPORT_OFF)

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def redis_keys(url: str, delete: bool) -> int:
    """The delivery tasks queued on the bench's Redis (Celery's default queue), and the kick
    flag; `delete` removes both. Fails loudly when Redis is not there: the kick is part of
    the measured path (--no-crm-kick runs without it)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        queued = client.llen("celery")
    except redis.ConnectionError as exc:
        raise SystemExit(f"Redis is not reachable at {url} ({exc}); start it, or pass --no-crm-kick") from exc
    if delete:
        client.delete("celery", ":1:crm:outbox:kick")
    return queued


SINK = Path(__file__).resolve().parent / "_fast_track_sink.py"


class Delivery:
    """A real Celery worker (README's command) consuming the delivery tasks the callbacks' kicks
    queue on Redis, delivering over REST to a fake Fast Track in its own process (a sink that
    answers 200 for next to no CPU, bench/_fast_track_sink.py): each kick
    clears its flag when its task starts, so every later kick is a real one, as in production."""

    def __init__(self, env: dict[str, str], redis_url: str, nice: int = 0) -> None:
        self.env, self.redis_url, self.nice = dict(env), redis_url, nice
        self.procs: list[subprocess.Popen] = []
        self.worker: subprocess.Popen | None = None

    def start(self) -> dict[str, str]:
        """Start both; the environment the server and the capture need to kick them."""
        redis_keys(self.redis_url, delete=True)
        sim = subprocess.Popen([PY, str(SINK)], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, start_new_session=True)  # fmt: skip
        self.procs.append(sim)
        url = sim.stdout.readline().strip()
        if not url.startswith("http"):
            self.stop()
            raise SystemExit("the fake Fast Track did not start")
        extra = {
            "REDIS_URL": self.redis_url,
            "FASTTRACK_TRANSPORT": "rest",
            "FASTTRACK_API_URL": url,
            "FASTTRACK_API_KEY": "bench",
        }
        self.env.update(extra)
        self.log = open(Path(tempfile.gettempdir()) / f"bench_celery_{os.getpid()}.log", "wb")  # noqa: SIM115
        command = [PY, "-m", "celery", "-A", "config", "worker", "-l", "warning"]
        command = ["nice", "-n", str(self.nice), *command] if self.nice else command
        # Its connections named, so that PostgreSQL's CPU for the delivery is counted apart (CpuMeter).
        worker_env = {**self.env, "PGAPPNAME": DELIVERY_APP}
        self.worker = subprocess.Popen(command, cwd=ROOT,
                                       env=worker_env, stdout=self.log, stderr=self.log, start_new_session=True)  # fmt: skip
        self.procs.append(self.worker)
        return extra

    def groups(self) -> dict[str, int]:
        """Label -> process group of what `start` started, for the CPU meter and the machine trace."""
        return {"crm worker": self.worker.pid, "fake fast track": self.procs[0].pid}

    def wait_idle(self, database_url: str, timeout: float) -> tuple[int, int]:
        """Wait for the worker to deliver what is due; (delivered or dead-lettered, still pending)."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            with psycopg.connect(database_url, autocommit=True) as conn:
                delivered, pending = conn.execute(
                    "SELECT count(*) FILTER (WHERE status NOT IN ('pending', 'sending') AND last_error <> ALL(%s)),"
                    " count(*) FILTER (WHERE status IN ('pending', 'sending'))"
                    " FROM crm_outboxevent",
                    [list(SET_ASIDE)],
                ).fetchone()
            if not pending or time.monotonic() > deadline:
                return delivered, pending
            time.sleep(0.5)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.worker is not None:
            self.log.close()
        redis_keys(self.redis_url, delete=True)


def set_aside_pending(database_url: str, why: str) -> int:
    """Mark the outbox rows still pending as delivered (`last_error` = `why`, one of SET_ASIDE):
    rows written with no kick (pgbench's, or a phase with the transport off) would otherwise be
    delivered during the next phase and counted as its delivery. The worker may be claiming some
    of them right now (a sweep): skip what it holds rather than deadlock with its claim."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "UPDATE crm_outboxevent SET status = 'delivered', delivered_at = now(), last_error = %s"
            " WHERE id IN (SELECT id FROM crm_outboxevent WHERE status = 'pending'"
            " ORDER BY id FOR UPDATE SKIP LOCKED)",
            [why],
        ).rowcount
