#!/usr/bin/env python
"""What serving a wallet callback over HTTP adds to it: a granian worker against the same
callbacks passed straight to the WSGI application (bench/callback_cpu.py).

    .venv/bin/python bench/transport_cost.py                       # IGPX, 1 and 8 client threads
    .venv/bin/python bench/transport_cost.py --provider betsy --rounds 30 --threads 1

One granian worker with one blocking thread (the production flags of README "Processes", one
worker) serves bet + result (IGPX) or place + settle (Betsy) rounds from --threads keep-alive
client connections, each thread one round after another. Two measures:
1. instructions per callback in the worker process (callgrind, the granian main process's
   child): a run of R rounds and one of 4R, the difference divided by the 6R extra callbacks,
   so start-up and warm-up cancel out. Deterministic, whatever else the machine runs; compare
   it with `bench/callback_cpu.py --callgrind --only PROVIDER` (the same callbacks in-process).
2. without valgrind, per callback: the worker's user and system CPU, and its threads' voluntary
   and involuntary context switches (from /proc). Every wait for PostgreSQL, for the next
   request or for the other thread is one voluntary switch. On a loaded machine the CPU figures
   move most; the involuntary switches (preemptions) follow the load too.

The database is tl_bench_transport on the local PostgreSQL (dropped and created); the Fast
Track transport is off, as in callback_cpu.py.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._http_db import migrated_database  # noqa: E402
from bench._http_server import free_port, wait_ready  # noqa: E402
from bench.callback_cpu import BETSY_SECRET, IGPX_SECRET, _env, callgrind_total  # noqa: E402

PLAYERS = 20
WARMUP = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=("igpx", "betsy"), default="igpx")
    parser.add_argument("--rounds", type=int, default=50, help="R: callgrind runs R and 4R rounds (2 callbacks each)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8], help="client connections, one thread each")
    parser.add_argument("--cpu-rounds", type=int, default=1000, help="rounds of the run without valgrind")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tl_bench_transport")
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)  # provider threads rounds port
    parser.add_argument("--worker-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        provider, threads, rounds, port = args.client
        print(json.dumps(client(provider, int(threads), int(rounds), int(port), args.worker_pid)))
        return

    env = {**_env(args.database_url), "PYTHONHASHSEED": "0"}
    with migrated_database(args.database_url, env):
        subprocess.run([sys.executable, __file__, "--client", args.provider, "0", "0", "0"], cwd=ROOT, env=env,
                       check=True, capture_output=True)  # fmt: skip
        rows = []
        for threads in args.threads:
            totals = []
            for rounds in (args.rounds, 4 * args.rounds):
                totals.append(counted(args.provider, threads, rounds, env))
                print(
                    f"  {threads} thread(s), {rounds} rounds under callgrind: {totals[-1]:,} instructions", flush=True
                )
            instructions = (totals[1] - totals[0]) / (3 * args.rounds * 2)
            cpu = timed(args.provider, threads, args.cpu_rounds, env)
            rows.append((threads, instructions, cpu))
        print(f"\n{args.provider} callbacks in one granian worker, per callback:")
        print("  threads  instructions   user µs   sys µs   voluntary switches   involuntary")
        for threads, instructions, cpu in rows:
            print(f"  {threads:7d} {instructions:13,.0f} {cpu['user_us']:9.0f} {cpu['sys_us']:8.0f}"
                  f" {cpu['voluntary']:20.2f} {cpu['involuntary']:13.2f}")  # fmt: skip
        print(f"in-process, for comparison: .venv/bin/python bench/callback_cpu.py --callgrind --only {args.provider}")


def _granian(port: int, wrap: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).with_name("granian")), "--interface", "wsgi", "--host", "127.0.0.1", "--port",
        str(port), "--workers", "1", "--blocking-threads", "1", "--no-ws", "--log-level", "warning",
        "config.wsgi:application",
    ]  # fmt: skip
    return subprocess.Popen(wrap + command, cwd=ROOT, env=env, stderr=log.open("w"), start_new_session=True)


def _stop(server: subprocess.Popen, timeout: float) -> None:
    """SIGINT to granian's main process, which stops its worker (callgrind then writes the
    worker's counts); the whole group is killed if that takes longer than `timeout`."""
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        raise SystemExit(f"granian did not stop within {timeout:.0f} s of SIGINT") from None


def _worker_pid(server: subprocess.Popen) -> int:
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            if Path(stat).read_text().rsplit(")", 1)[1].split()[1] == str(server.pid):
                return int(stat.split("/")[2])
        except (OSError, IndexError):
            continue
    raise SystemExit("granian's worker process not found")


def _run_client(provider: str, threads: int, rounds: int, port: int, env: dict[str, str], worker: int = 0) -> dict:
    command = [sys.executable, __file__, "--client", provider, str(threads), str(rounds), str(port)]
    out = subprocess.run(command + ["--worker-pid", str(worker)], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"client failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def counted(provider: str, threads: int, rounds: int, env: dict[str, str]) -> int:
    """Instructions of the granian worker process serving WARMUP + `rounds` rounds."""
    with tempfile.TemporaryDirectory(prefix="tl-transport-") as directory:
        port = free_port()
        wrap = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={directory}/cg.%p"]
        server = _granian(port, wrap, env, Path(directory) / "server.log")
        try:
            wait_ready(port, server, timeout=600)
            worker = _worker_pid(server)
            _run_client(provider, threads, rounds, port, env)
        finally:
            _stop(server, 600)
        return callgrind_total(Path(directory) / f"cg.{worker}")


def timed(provider: str, threads: int, rounds: int, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="tl-transport-") as directory:
        port = free_port()
        server = _granian(port, [], env, Path(directory) / "server.log")
        try:
            wait_ready(port, server, timeout=60)
            return _run_client(provider, threads, rounds, port, env, _worker_pid(server))
        finally:
            _stop(server, 60)


def _usage(pid: int) -> tuple[float, float, int, int]:
    """(user s, system s, voluntary, involuntary context switches) of the process's threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    voluntary = involuntary = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        for line in Path(status).read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                involuntary += int(line.split()[1])
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK, voluntary, involuntary


# --- Client: a separate process (Django set up for the players and the signing) -----------------


def client(provider: str, threads: int, rounds: int, port: int, worker: int) -> dict:
    import django

    django.setup()
    from apikeys.services import tool_key
    from bench._capture import call
    from wallet import money
    from wallet.betsy.simulator import Betsy, WireReply, WireRequest
    from wallet.igpx.protocol import sign

    if threads == 0:  # set-up: the players, made in-process through the operator API
        auth = {"Authorization": f"Bearer {tool_key('transport-cost')}"}
        for i in range(PLAYERS):
            name = f"t{i}"
            for path, payload in (
                ("players/", {"external_id": name, "currencies": ["EUR", "USD"], "nickname": name}),
                (f"players/{name}/deposits/", {"reference": f"{name}-e", "currency": "EUR", "amount": "100000"}),
                (f"players/{name}/deposits/", {"reference": f"{name}-u", "currency": "USD", "amount": "100000"}),
            ):
                status, answer = call("POST", f"/api/operator/{path}", json.dumps(payload).encode(), auth)
                if status not in (200, 201):
                    raise SystemExit(f"operator API {path}: HTTP {status} {answer[:300]!r}")
        return {}

    from wallet.models import Player

    tokens = {}
    if provider == "betsy":
        auth = {"Authorization": f"Bearer {tool_key('transport-cost')}"}
        for name in Player.objects.filter(external_id__startswith="t").values_list("external_id", flat=True):
            body = json.dumps({"currency": "USD"}).encode()
            status, answer = call("POST", f"/api/operator/players/{name}/sessions/betsy/", body, auth)
            tokens[name] = json.loads(answer)["token"]
    local = threading.local()
    failures = []

    def post(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conn.request(method, path, body, {"Content-Type": "application/json", **headers})
        reply = conn.getresponse()
        return reply.status, reply.read()

    def betsy_send(request: WireRequest) -> WireReply:
        status, answer = post(request.method, request.path, request.body, request.headers)
        return WireReply(status, answer, {})

    run = f"x{os.getpid()}"

    def one(n: int) -> None:
        name = f"t{n % PLAYERS}"
        if provider == "igpx":
            for action, amount in (("bet", "2.50"), ("result", "2.50" if n % 2 else "0")):
                body = json.dumps({"transaction_id": f"{run}-{action}-{n}", "action": action, "amount": amount,
                                   "user_id": name, "currency": "EUR"}).encode()  # fmt: skip
                status, answer = post(
                    "POST", "/api/igpx/transaction", body, {"X-Security-Hash": sign(body, IGPX_SECRET)}
                )
                if status != 200 or money.loads(answer)["error"] is not None:
                    failures.append(answer[:200])
            return
        betsy = getattr(local, "betsy", None) or Betsy(betsy_send, BETSY_SECRET)
        local.betsy = betsy
        won = n % 2 == 1
        replies = [betsy.place(f"{run}-{n}", name, "USD", Decimal("2.50"), tokens[name])]
        replies.append(betsy.settle(f"{run}-{n}", name, "USD", Decimal("5.00" if won else "0"),
                                    "won" if won else "lost"))  # fmt: skip
        failures.extend(reply.body[:200] for reply in replies if reply.status != 200)

    for n in range(WARMUP):
        one(n)
    before = _usage(worker) if worker else None

    def loop(k: int) -> None:
        for n in range(WARMUP + k, WARMUP + rounds, threads):
            one(n)

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} callbacks refused, e.g. {failures[0]!r}")
    if not before:
        return {}
    after = _usage(worker)
    callbacks = rounds * 2
    return {
        "user_us": (after[0] - before[0]) * 1e6 / callbacks,
        "sys_us": (after[1] - before[1]) * 1e6 / callbacks,
        "voluntary": (after[2] - before[2]) / callbacks,
        "involuntary": (after[3] - before[3]) / callbacks,
    }


if __name__ == "__main__":
    main()
