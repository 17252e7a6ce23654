"""The HTTP servers a wallet benchmark (bench/_http_common.py) can run the site under, and
starting and stopping one: README's "Processes" command lines per server kind, the worker and
thread counts sized to this machine, readiness, and the server's log.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ASGI_SERVERS = ("uvicorn", "gunicorn-uvicorn")


def server_command(kind: str, port: int, workers: int, threads: int) -> list[str]:
    bind = f"127.0.0.1:{port}"
    common = ["--log-level", "warning", "--backlog", "2048"]
    if kind == "gunicorn-sync":
        return [PY, "-m", "gunicorn", "config.wsgi", "-k", "sync", "-w", str(workers), "-b", bind, *common]
    if kind == "gunicorn-gthread":
        return [
            PY, "-m", "gunicorn", "config.wsgi", "-k", "gthread", "-w", str(workers), "--threads", str(threads),
            "-b", bind, "--keep-alive", "30", *common,
        ]  # fmt: skip
    if kind == "gunicorn-uvicorn":
        return [
            PY, "-m", "gunicorn", "config.asgi:application", "-k", "uvicorn.workers.UvicornWorker",
            "-w", str(workers), "-b", bind, *common,
        ]  # fmt: skip
    if kind == "uvicorn":
        return [
            PY, "-m", "uvicorn", "config.asgi:application", "--workers", str(workers), "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    if kind == "uvicorn-wsgi":
        # Django as plain WSGI (no async adaptation) behind uvicorn's C HTTP parser (httptools).
        return [
            PY, "-m", "uvicorn", "config.wsgi:application", "--interface", "wsgi", "--workers", str(workers),
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
            "--http", "httptools", "--loop", "uvloop",
        ]  # fmt: skip
    if kind == "uwsgi":
        # C HTTP/1.1 parsing (keep-alive), prefork workers each with a few threads.
        return [
            str(Path(PY).with_name("uwsgi")), "--http11-socket", bind, "--module", "config.wsgi:application",
            "--master", "--processes", str(workers), "--threads", str(threads), "--enable-threads",
            "--disable-logging", "--listen", "1024", "--die-on-term", "--lazy-apps", "--need-app",
            "--post-buffering", "0", "--buffer-size", "16384",
        ]  # fmt: skip
    if kind == "granian":
        # Rust HTTP server (hyper); the WSGI app runs on a pool of blocking threads per worker.
        return [
            str(Path(PY).with_name("granian")), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--blocking-threads", str(threads), "--no-ws", "--log-level", "warning",
            "--backlog", "2048", "config.wsgi:application",
        ]  # fmt: skip
    if kind == "granian-reuseport":
        # N single-worker granians on one port: granian sets SO_REUSEPORT, so the kernel spreads
        # new connections over N listening sockets by their addresses, instead of one shared
        # socket whose connections a worker takes in bursts (all 16 on one worker, at times).
        one = shlex.join(server_command("granian", port, 1, threads))
        return ["bash", "-c", f"for _ in $(seq {workers}); do {one} & done; wait"]
    if kind == "granian-nginx":
        # README "Processes": single-worker granians behind nginx, balanced per request.
        return [PY, str(ROOT / "bench" / "balanced_server.py"), "--port", str(port), "--workers", str(workers)]
    raise SystemExit(f"unknown server {kind}")


DEFAULT_SIZES = {  # (workers, threads) sized to 2 cores; measured in docs/benchmarks/igpx.md
    "gunicorn-sync": (4, 1),
    "gunicorn-gthread": (4, 4),
    "gunicorn-uvicorn": (2, 1),
    "uvicorn": (2, 1),
    "uvicorn-wsgi": (2, 1),
    "uwsgi": (8, 1),
    "granian": (6, 1),
    "granian-nginx": (6, 1),
    "granian-reuseport": (6, 1),
}


def free_port() -> int:
    """A port for a server started a few seconds later: below the ephemeral range, so no
    outgoing connection takes it meanwhile (config/ports.py)."""
    from config.ports import listen_port

    return listen_port()


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if b"200" in s.recv(100):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


@contextmanager
def running_server(cmd: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """The server as a subprocess in its own process group; on exit, SIGTERM to the group (SIGKILL
    after 15 s) and the last errors of its log printed."""
    # The server's log goes to a file (a pipe nobody reads would fill and stall the server).
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file,
                            start_new_session=True)  # fmt: skip
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log_file.close()
        errors = [
            line for line in log_path.read_text(errors="replace").splitlines() if "Error" in line or "ERROR" in line
        ]
        if errors:
            print(f"  server log ({log_path}), last errors:")
            for line in errors[-6:]:
                print("   ", line[:300])


def wait_listeners(port: int, count: int, timeout: float = 60.0) -> None:
    """Until `count` sockets listen on `port` (SO_REUSEPORT servers): a client that connects
    earlier is hashed over the ones already there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ss", "-ltnH", f"( sport = :{port} )"], capture_output=True, text=True).stdout
        if len(out.splitlines()) >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"fewer than {count} servers listen on port {port} after {timeout:.0f} s")
