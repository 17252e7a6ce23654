#!/usr/bin/env python
"""Betsy place+settle over HTTP, on a production server configuration, against PostgreSQL.

What it does, end to end (about 45 s with the defaults):
  1. (re)creates the database tl_bench_betsy, migrates it, seeds --players players with money
     through the wallet services, and issues each a Betsy session token;
  2. starts the server as a subprocess (granian with single-threaded workers by default, sized to the machine's
     cores) with persistent DB connections;
  3. runs --clients concurrent keep-alive HTTP clients for --duration seconds, each looping
     "place a bet (POST type 1), settle it (PUT type 2, won or lost)" with signed bodies;
  4. stops the server, proves the ledger (check_ledger) and runs pgbench with a wallet-like
     transaction on the same database for the ratio;
  5. prints requests/s and p50/p99 latency (all, place, settle) and the ratio to pgbench.

    /work/main/.venv/bin/python bench/wallet_http_betsy.py                 # defaults
    /work/main/.venv/bin/python bench/wallet_http_betsy.py --server sync   # gunicorn sync workers
    /work/main/.venv/bin/python bench/wallet_http_betsy.py --server uvicorn --clients 32

The load generator is a small asyncio HTTP/1.1 client (no third-party client: its CPU is taken
from the same two cores the server uses, so it has to be cheap).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DB_NAME = "tl_bench_betsy"
PG = "postgres://postgres@127.0.0.1:5432"
SECRET = "bench-betsy-partner-secret"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Database ---------------------------------------------------------------------------------


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"{PG}/{DB_NAME}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TOUCHLINE_DEMO": "true",  # plain HTTP, demo secrets where none are given
            "BETSY_PARTNER_SECRET": SECRET,
            "LOG_LEVEL": "error",
            "DEBUG": "false",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.pop("REDIS_URL", None)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def seed(players: int) -> list[tuple[str, str]]:
    """Players with 1,000,000 USD each (deposited through the wallet services) and their tokens."""
    os.environ.update(server_env())
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from decimal import Decimal

    from django.db import transaction

    from wallet import ledger
    from wallet.betsy import tokens
    from wallet.selectors import wallet_get
    from wallet.services.players import player_create
    from wallet.services.postings import deposit_apply

    ledger.clearing_account_id("betsy", "USD")  # as the session launch does: committed before any bet
    result = []
    for i in range(players):
        external_id = f"bench-{i:05d}"
        player = player_create(external_id=external_id, currencies=["USD"])
        with transaction.atomic():
            wallet = wallet_get(external_id=external_id, currency="USD")
            deposit_apply(wallet=wallet, amount=Decimal("1000000"), reference=f"seed-{i}", actor_id=None)
        result.append((external_id, tokens.issue(player_id=player.pk, external_id=external_id, currency="USD")))
    from django.db import connections

    connections.close_all()
    return result


# --- Server -----------------------------------------------------------------------------------


def server_command(kind: str, workers: int, threads: int, port: int) -> list[str]:
    bind = f"127.0.0.1:{port}"
    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    common = ["--bind", bind, "--workers", str(workers), "--log-level", "error", "--keep-alive", "30"]
    if kind == "granian":  # the production layout for callbacks (README, Processes)
        return [
            str(Path(PYTHON).with_name("granian")), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--blocking-threads", "1", "--no-ws", "--log-level", "error",
            "config.wsgi:application",
        ]  # fmt: skip
    if kind == "gthread":
        return [gunicorn, "config.wsgi", "--worker-class", "gthread", "--threads", str(threads), *common]
    if kind == "sync":
        return [gunicorn, "config.wsgi", "--worker-class", "sync", *common]
    if kind == "uvicorn":
        return [
            str(Path(PYTHON).with_name("uvicorn")),
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "error",
            "--no-access-log",
        ]
    raise SystemExit(f"unknown server kind {kind}")


def wait_until_up(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    import socket

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not come up")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Load -------------------------------------------------------------------------------------


def build_request(method: str, path: str, body: bytes, sign) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nx-sign-jws: {sign(body)}\r\n\r\n"
    ).encode() + body


# Bodies as Betsy sends them (JSON braces read better with %-formatting than with str.format).
PLACE_BODY = (
    '{"requestId":"%s","transactionId":"%s","token":"%s","userId":"%s","currency":"USD","amount":5,'
    '"type":1,"info":"bench","coefficient":2.0,"boosterCoefficient":1,"ip":"203.0.113.7",'
    '"subPartnerId":null,"bonusId":null,"bonusTemplateId":null,"bonusAmount":null,'
    '"gameType":"sportsbook","ticketType":"single","metadata":[{"disciplineId":1,"discipline":"Football",'
    '"tournamentId":17,"tournament":"Premier League","eventId":50601,"event":"Arsenal - Chelsea",'
    '"eventDate":"2026-05-01 18:30:00","marketId":1,"market":"1x2","outcomeId":1,"outcome":"Arsenal",'
    '"coefficient":2.0,"stage":0}]}'
)
SETTLE_BODY = (
    '{"requestId":"%s","transactionId":"%s","userId":"%s","currency":"USD","amount":%s,"type":2,'
    '"resultType":"%s","coefficient":2.0,"info":"bench"}'
)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    body = await reader.readexactly(length) if length else b""
    return status, body, close


async def client(
    index: int,
    port: int,
    players: list[tuple[str, str]],
    sign,
    stop_at: float,
    record_from: float,
    samples: dict[str, list[float]],
    failures: list[str],
) -> None:
    reader = writer = None
    n = 0

    async def exchange(payload: bytes) -> tuple[int, bytes]:
        nonlocal reader, writer
        for _attempt in range(2):
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(payload)
                await writer.drain()
                status, body, close = await read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                writer = None
                continue
            if close:
                writer.close()
                writer = None
            return status, body
        raise ConnectionError("server closed the connection twice")

    while time.perf_counter() < stop_at:
        user, token = players[(index + n * 7919) % len(players)]
        n += 1
        tx = str(uuid.uuid4())
        won = n % 2 == 0
        place = PLACE_BODY % (uuid.uuid4(), tx, token, user)  # noqa: UP031
        settle = SETTLE_BODY % (uuid.uuid4(), tx, user, "10" if won else "0", "won" if won else "lost")  # noqa: UP031
        for op, method, body in (("place", "POST", place), ("settle", "PUT", settle)):
            started = time.perf_counter()
            status, answer = await exchange(build_request(method, "/api/betsy/payment/bet", body.encode(), sign))
            elapsed = time.perf_counter() - started
            if status != 200:
                failures.append(f"{op} {status} {answer[:120]!r}")
            elif started >= record_from:
                samples[op].append(elapsed)
    if writer is not None:
        writer.close()


async def run_load(port, players, clients, warmup, duration) -> tuple[dict[str, list[float]], list[str], float]:
    sys.path.insert(0, str(ROOT))
    from wallet.betsy import protocol

    def sign(body: bytes) -> str:
        return protocol.sign(body, SECRET)

    samples: dict[str, list[float]] = {"place": [], "settle": []}
    failures: list[str] = []
    start = time.perf_counter()
    record_from = start + warmup
    stop_at = record_from + duration
    await asyncio.gather(
        *(client(i, port, players, sign, stop_at, record_from, samples, failures) for i in range(clients))
    )
    return samples, failures, duration


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


# --- pgbench reference ---------------------------------------------------------------------------

PGBENCH_SETUP = """
CREATE TABLE bench_accounts (id int PRIMARY KEY, balance numeric(30,8) NOT NULL);
INSERT INTO bench_accounts SELECT g, 1000000 FROM generate_series(0, 10000) g;
CREATE TABLE bench_keys (k text PRIMARY KEY);
CREATE TABLE bench_entries (id bigserial PRIMARY KEY, account_id int NOT NULL, amount numeric(30,8) NOT NULL);
"""
PGBENCH_SCRIPT = """\\set aid random(1, 10000)
BEGIN;
INSERT INTO bench_keys (k) VALUES (md5(random()::text || clock_timestamp()::text)) ON CONFLICT DO NOTHING;
UPDATE bench_accounts SET balance = balance - 5 WHERE id = :aid AND balance >= 5 RETURNING balance;
INSERT INTO bench_entries (account_id, amount) VALUES (:aid, -5), (0, 5);
END;
"""


def run_pgbench(seconds: int, clients: int) -> float | None:
    if not shutil.which("pgbench"):
        log("pgbench not found: no ratio")
        return None
    import psycopg

    with psycopg.connect(f"{PG}/{DB_NAME}", autocommit=True) as conn:
        conn.execute(PGBENCH_SETUP)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    try:
        out = subprocess.run(
            [
                "pgbench",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-n",
                "-M",
                "prepared",
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(seconds),
                "-f",
                script.name,
                DB_NAME,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    for line in out.splitlines():
        if line.startswith("tps ="):
            return float(line.split()[2])
    return None


# --- Main -------------------------------------------------------------------------------------


def main() -> int:
    cores = os.cpu_count() or 2
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--server", choices=("granian", "gthread", "sync", "uvicorn"), default="granian")
    parser.add_argument(
        "--workers", type=int, default=0, help="default: 4*cores (granian), cores (gthread/uvicorn), 2*cores+1 (sync)"
    )
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per worker (DB-bound: 8 beat 4)")
    parser.add_argument("--pgbench-seconds", type=int, default=10, help="0 skips pgbench")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    workers = args.workers or {"sync": 2 * cores + 1, "granian": 4 * cores}.get(args.server, cores)

    env = server_env()
    if args.server == "uvicorn":
        # Under ASGI, Django runs each sync view in a fresh thread, and a persistent connection is
        # per thread: CONN_MAX_AGE > 0 would leave one idle connection per request thread until
        # PostgreSQL runs out of slots (seen on this machine). Use the project's pool instead.
        env["DATABASE_POOL_SIZE"] = "16"
    load_before = os.getloadavg()[0]
    log(f"database {DB_NAME}: recreate, migrate, seed {args.players} players")
    recreate_database()
    migrate(env)
    players = seed(args.players)  # in this process, with config.settings

    port = free_port()
    command = server_command(args.server, workers, args.threads, port)
    log(f"server: {' '.join(command[:1] + command[1:])}")
    server_log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_until_up(port, proc)
        log(f"load: {args.clients} clients, {args.warmup:.0f} s warm-up + {args.duration:.0f} s measured")
        samples, failures, duration = asyncio.run(run_load(port, players, args.clients, args.warmup, args.duration))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    server_log.seek(0)
    errors_logged = server_log.read()
    server_log.close()
    os.unlink(server_log.name)

    from wallet.invariants import check_ledger

    report = check_ledger()
    from django.db import connections

    connections.close_all()
    tps = run_pgbench(args.pgbench_seconds, 8) if args.pgbench_seconds else None
    if not args.keep_db:
        drop_database()

    every = samples["place"] + samples["settle"]
    rps = len(every) / duration
    print()
    print(
        f"Betsy place+settle over HTTP: server={args.server} workers={workers}"
        + (f" threads={args.threads}" if args.server == "gthread" else "")
        + f" clients={args.clients} duration={duration:.0f}s cores={cores}"
    )
    print(f"  requests/s         {rps:8.0f}   ({len(every)} requests, {len(every) // 2} bets placed and settled)")
    for name, values in (("all", every), ("place", samples["place"]), ("settle", samples["settle"])):
        print(
            f"  {name:<7} p50 {percentile(values, 50) * 1000:6.1f} ms   p99 {percentile(values, 99) * 1000:6.1f} ms"
            f"   mean {statistics.fmean(values) * 1000 if values else float('nan'):6.1f} ms"
        )
    if tps:
        print(f"  pgbench wallet-like transaction, 8 clients: {tps:.0f} TPS  ->  HTTP/pgbench ratio {rps / tps:.2f}")
    print(
        f"  machine load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
        " (other processes share these cores)"
    )
    print(f"  non-200 answers: {len(failures)}" + (f" (first: {failures[0]})" if failures else ""))
    print(f"  ledger check: {'OK' if report.ok else 'VIOLATIONS'} {report.stats}")
    problems = [
        line
        for line in errors_logged.splitlines()
        if line.strip() and "staticfiles" not in line and "mw_instance = middleware" not in line
    ]
    if problems:
        print("  server log (tail):\n    " + "\n    ".join(problems[-5:]))
    return 0 if report.ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
