"""Serve config.wsgi balanced per request: N single-worker granian processes behind nginx,
which picks the upstream with the fewest requests in flight (least_conn) for every request,
over keep-alive upstream connections. Measured against plain granian (README "Processes",
docs/benchmarks/igpx.md session 4): it evens the workers' share of connections, but nginx's
0.35 ms per request costs more than that wins on 2 cores.

    python bench/balanced_server.py --port 8000 --workers 6

Used by bench/wallet_http.py (`--server granian-nginx`). Needs nginx (Debian: nginx-light).
Runs in the foreground; SIGTERM stops nginx and every granian.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wallet_http import free_port  # noqa: E402  (this script runs from bench/)

ROOT = Path(__file__).resolve().parent.parent

CONF = """
worker_processes 1;
error_log {tmp}/error.log warn;
pid {tmp}/nginx.pid;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream callbacks {{
        least_conn;
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=2048;
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://callbacks;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering off;
        }}
    }}
}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=6)
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx is not installed (Debian: apt-get install nginx-light)")
    tmp = Path(tempfile.mkdtemp(prefix="tl-balanced-"))
    ports = [free_port() for _ in range(args.workers)]
    granian = str(Path(sys.executable).with_name("granian"))
    procs = [
        subprocess.Popen(
            [
                granian,
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(p),
                "--workers",
                "1",
                "--blocking-threads",
                "1",
                "--no-ws",
                "--log-level",
                "warning",
                "--backlog",
                "2048",
                "config.wsgi:application",
            ],
            cwd=ROOT,
        )  # fmt: skip
        for p in ports
    ]
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in ports)
    (tmp / "nginx.conf").write_text(CONF.format(tmp=tmp, port=args.port, servers=servers))
    for p in ports:  # nginx forwards only once every upstream answers
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", p), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit(f"granian on port {p} did not start")
                time.sleep(0.1)
    procs.append(subprocess.Popen([nginx, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)]))

    def stop(*_: object) -> None:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(proc.poll() is None for proc in procs):
        time.sleep(0.5)
    stop()


if __name__ == "__main__":
    main()
