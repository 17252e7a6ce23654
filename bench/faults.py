#!/usr/bin/env python
"""Fault injection on the production process set: provider load with retries while workers,
servers, PostgreSQL, Redis and Fast Track fail, then proof that no money was lost or doubled.

What it runs (README's "Processes" commands, read from README.md):
- the provider callbacks: granian with README's flags (`--workers` to size it);
- the web process (gunicorn + uvicorn worker, DATABASE_POOL_SIZE=4), for the operator API;
- a Celery worker and Celery beat (Fast Track delivery on commit, the outbox sweeper);
- a Fast Track REST simulator inside this script (it records every event it accepts);
- PostgreSQL and Redis: the machine's own (127.0.0.1:5432, 127.0.0.1:6379). Its own
  database (default tl_resilience_faults, recreated) and Redis database (default 3, flushed).
This script is the process manager: it restarts what it killed, as systemd would.

The provider (this script, asyncio): `--clients` keep-alive connections at `--rate` callbacks/s
in all, IGPX-style rounds (a bet, then its result or its rollback), each request retried with
the same transaction_id until it gets a definitive answer, as a provider does. It keeps its own
ledger: what it believes each player's balance is, from the answers it got.

Alongside, the platform reads a player through the operator API (README's web process, with
DATABASE_POOL_SIZE) four times a second: it must never get an HTML page.

Faults, at fixed shares of the load's duration (`--minutes`, default 2):
   8%  SIGKILL one granian worker (granian respawns it)
  18%  SIGKILL the whole granian server; restarted 3 s later
  30%  restart PostgreSQL (pg_ctlcluster … restart)                 --no-postgres to skip
  42%  stop Redis for 15% of the run (at least 10 s)                --no-redis to skip
  62%  Fast Track down for 20% of the run: 503s, then connection refused
  88%  SIGKILL the Celery worker; restarted 2 s later
Then the load stops, every open request is retried to its end, and the script waits for the
Fast Track outbox to drain.

It proves: each player's wallet balance equals the provider's own ledger (no money lost or
doubled), `manage.py check_ledger` is clean, every outbox row was delivered, in order per
player (first arrivals), none dead-lettered; and it reports retries, recovery times, Fast
Track catch-up after its return, duplicates after the worker kill, and log lines per process.
Exit status 1 if any proof fails.

    python bench/faults.py                          # ~3 minutes in all
    python bench/faults.py --minutes 10 --rate 300
    python bench/faults.py --no-postgres --no-redis  # leave the shared servers alone

PostgreSQL and Redis restarts disturb everything else on the machine that uses them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from _procs import Managed, log, readme_command, redis_cli, restart_postgres, start_redis, stop_redis, wait_http  # noqa: E402
from wallet_http import SECRET, SEED, Connection, Stats, admin_connect, free_port  # noqa: E402  (bench/)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
BIN = Path(PY).parent
FT_KEY = "faults-ft-key"
# Answers after which the provider stops retrying; INTERNAL_ERROR and transport failures are retried.
RETRYABLE = {"INTERNAL_ERROR"}


# --- The provider ------------------------------------------------------------------------------


@dataclass
class Provider:
    """What the provider believes, from the answers it got, and how it got them."""

    believed: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    answers: Counter = field(default_factory=Counter)
    retries: int = 0
    failures: list[float] = field(default_factory=list)  # monotonic times of failed attempts
    successes: list[float] = field(default_factory=list)
    unresolved: int = 0
    anomalies: list[str] = field(default_factory=list)


async def call(conn: Connection, path: str, payload: dict, provider: Provider, give_up: float) -> dict | None:
    """Send until a definitive answer, the same transaction_id every time (as IGPX does)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    delay = 0.05
    while True:
        try:
            raw = await asyncio.wait_for(conn.post(path, body), timeout=15)
            answer = json.loads(raw)
            if answer.get("error") not in RETRYABLE:
                provider.successes.append(time.monotonic())
                provider.answers[answer.get("error") or "ok"] += 1
                return answer
        except (TimeoutError, OSError, EOFError, asyncio.IncompleteReadError, RuntimeError, ValueError):
            try:
                await conn.close()
            except Exception:  # a broken connection: forget it
                pass
            conn.reader = conn.writer = None
        provider.retries += 1
        provider.failures.append(time.monotonic())
        if time.monotonic() > give_up:
            provider.unresolved += 1
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def client(cid: int, port: int, players: int, rate: float, end: float, give_up: float, p: Provider) -> None:
    rnd = random.Random(cid)
    conn = Connection("127.0.0.1", port, Stats())
    n = 0
    due = time.monotonic()
    while time.monotonic() < end:
        n += 1
        user = f"bench-{rnd.randrange(players)}"
        base = {"user_id": user, "currency": "EUR"}
        amount = Decimal(rnd.randint(100, 2000)) / 100
        bet = {"transaction_id": f"f-b-{cid}-{n}", "action": "bet", "amount": f"{amount:.2f}", **base}
        answer = await call(conn, "/api/igpx/transaction", bet, p, give_up)
        if answer is not None and answer.get("error") is None:
            p.believed[user] -= amount
            if rnd.random() < 0.8:
                payout = Decimal(rnd.randint(100, 5000)) / 100 if rnd.random() < 0.5 else Decimal(0)
                result = {"transaction_id": f"f-r-{cid}-{n}", "action": "result", "amount": f"{payout:.2f}", **base}
                if (await call(conn, "/api/igpx/transaction", result, p, give_up) or {}).get("error", 1) is None:
                    p.believed[user] += payout
                else:
                    p.anomalies.append(f"result {result['transaction_id']} not credited")
            else:
                rollback = {
                    "transaction_id": f"f-rb-{cid}-{n}",
                    "rollback_transaction_id": bet["transaction_id"],
                    "action": "rollback",
                    "amount": bet["amount"],
                    **base,
                }
                if (await call(conn, "/api/igpx/transaction-rollback", rollback, p, give_up) or {}).get(
                    "error", 1
                ) is None:
                    p.believed[user] += amount
                else:
                    p.anomalies.append(f"rollback {rollback['transaction_id']} refused")
        elif answer is not None:
            p.anomalies.append(f"bet {bet['transaction_id']} declined: {answer.get('error')}")
        due += 3 / rate  # about three requests per round
        await asyncio.sleep(max(0.0, due - time.monotonic()))
    try:
        await conn.close()
    except Exception:
        pass


async def operator_api(port: int, token: str, end: float, seen: Counter) -> None:
    """The casino platform reading a player through the operator API (the web process, with
    its connection pool) four times a second: it must never get an HTML page."""
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        while time.monotonic() < end:
            try:
                response = await http.get(
                    "/api/operator/players/bench-0/", headers={"Authorization": f"Bearer {token}"}
                )
                kind = "html" if "html" in response.headers.get("content-type", "") else "json"
                seen[f"{response.status_code} {kind}"] += 1
            except httpx.HTTPError as exc:
                seen[f"no answer ({type(exc).__name__})"] += 1
            await asyncio.sleep(0.25)


async def drive(
    port: int, clients: int, players: int, rate: float, seconds: float, p: Provider, web: tuple[int, str, Counter]
) -> None:
    end = time.monotonic() + seconds
    give_up = end + 90  # a request open when the load stops is retried this long
    await asyncio.gather(
        operator_api(*web[:2], end, web[2]),
        *(client(c, port, players, rate / clients, end, give_up, p) for c in range(clients)),
    )


# --- Checks -------------------------------------------------------------------------------------


def first_arrivals(sims) -> list[str]:
    seen: dict[str, None] = {}
    for sim in sims:
        for activity in sim.activity_ids():
            seen.setdefault(activity, None)
    return list(seen)


def outbox_open(max_id: int | None = None) -> int:
    from django.db import connection

    from crm.models import OutboxEvent

    query = OutboxEvent.objects.exclude(status__in=["delivered", "skipped"])
    if max_id is not None:
        query = query.filter(id__lte=max_id)
    try:
        return query.count()
    except Exception:  # the database restarting under us: ask again
        connection.close()
        return -1


def wait_outbox(max_id: int | None, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if outbox_open(max_id) == 0:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def recovery(p: Provider, start: float, end: float) -> str:
    """The provider's failed attempts from this fault until the next one, and the longest
    wait from a failure to the next success."""
    failed = [t for t in p.failures if start <= t < end]
    if not failed:
        return "0 failed attempts"
    longest, index = 0.0, 0
    successes = sorted(t for t in p.successes if t >= failed[0])
    for t in failed:
        while index < len(successes) and successes[index] < t:
            index += 1
        if index < len(successes):
            longest = max(longest, successes[index] - t)
    return f"{len(failed)} failed attempts, longest failure-to-success {longest:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0, help="load duration (faults are placed in it)")
    parser.add_argument("--rate", type=float, default=120.0, help="callbacks per second, all clients together")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3, help="granian workers (README says 6 for production)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/tl_resilience_faults")
    parser.add_argument("--redis-db", type=int, default=3, help="Redis database (flushed at the start)")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false", help="do not restart PostgreSQL")
    parser.add_argument("--no-redis", dest="redis", action="store_false", help="do not stop Redis")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    duration = args.minutes * 60
    name = args.database_url.rsplit("/", 1)[1]
    if not re.fullmatch(r"tl_[a-z0-9_]*faults[a-z0-9_]*", name):
        raise SystemExit(f"refusing to recreate database {name!r}: its name must look like tl_…faults")
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"

    from crm.simulator import FastTrackSimulator  # noqa: E402  (before Django: no settings needed)

    ft_port = free_port()
    sims = [FastTrackSimulator(port=ft_port, api_key=FT_KEY).start()]
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONPATH": str(ROOT),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "TOUCHLINE_REQUIRE_SECRET_KEY": "true",
        "IGPX_SECURITY_HASH": SECRET,
        "BETSY_PARTNER_SECRET": secrets.token_urlsafe(24),
        "REDIS_URL": redis_url,
        "FASTTRACK_TRANSPORT": "rest",
        "FASTTRACK_API_URL": sims[0].url,
        "FASTTRACK_API_KEY": FT_KEY,
        "LOG_LEVEL": "warning",
        "TOUCHLINE_HTTPS": "false",  # plain HTTP on loopback; production terminates TLS in front
    }
    env.pop("CELERY_BROKER_URL", None)
    os.environ.update(env)  # this process reads the same database (seed, checks)

    log(f"database {name}: create, migrate, seed {args.players} players; Redis db {args.redis_db} flushed", started)
    with admin_connect(args.database_url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PY, "-c", SEED, str(args.players)], cwd=ROOT, env=env, check=True, capture_output=True)
    redis_cli("-n", str(args.redis_db), "flushdb")

    import django

    django.setup()
    from apikeys.services import apikey_replace_for_tool
    from wallet.models import Account

    token = apikey_replace_for_tool(name="faults platform", scopes=["read"])
    funds = {
        a.player.external_id: a.balance + a.bonus_balance
        for a in Account.objects.filter(kind="player").select_related("player")
    }

    logdir = Path(tempfile.mkdtemp(prefix="tl-faults-"))
    port = free_port()
    granian = readme_command("provider callbacks")
    granian[granian.index("--workers") + 1] = str(args.workers)
    granian = [str(BIN / granian[0]), *granian[1:-1], "--port", str(port), granian[-1]]
    web_port = free_port()
    web = readme_command("web")
    web[web.index("-w") + 1] = "1"
    web = [str(BIN / web[0]), *web[1:], "--bind", f"127.0.0.1:{web_port}"]
    worker = readme_command("Celery worker")
    beat = readme_command("Celery beat")
    procs = {
        "granian": Managed("granian", granian, env, logdir),
        "web": Managed("web", web, {**env, "DATABASE_POOL_SIZE": "4"}, logdir),
        "celery-worker": Managed(
            "celery-worker", [str(BIN / worker[0]), *worker[1:], "--concurrency", "2"], env, logdir
        ),
        "celery-beat": Managed(
            "celery-beat", [str(BIN / beat[0]), *beat[1:], "-s", str(logdir / "beat-schedule")], env, logdir
        ),
    }
    for proc in procs.values():
        proc.start()
    wait_http(port)
    wait_http(web_port)
    log(f"running: {shlex.join(granian)}; logs in {logdir}", started)

    provider = Provider()
    events: list[tuple[str, float, str]] = []  # (fault, monotonic time, detail)
    ft_back: dict[str, float] = {}

    def schedule() -> None:
        t0 = time.monotonic()

        def at(share: float) -> None:
            delay = t0 + share * duration - time.monotonic()
            if delay > 0:
                time.sleep(delay)

        at(0.08)
        spawned = {int(pid) for pid in re.findall(r"with pid: (\d+)", procs["granian"].text(), re.IGNORECASE)}
        victim = sorted(spawned & set(procs["granian"].children()))[0]
        os.kill(victim, signal.SIGKILL)
        events.append(("granian worker SIGKILL", time.monotonic(), f"pid {victim}"))
        log(f"fault: SIGKILL granian worker {victim}", started)

        at(0.18)
        procs["granian"].kill()
        killed = time.monotonic()
        log("fault: SIGKILL the whole granian server", started)
        time.sleep(3)
        procs["granian"].start()
        ready = wait_http(port)
        events.append(
            ("granian server SIGKILL, restarted after 3 s", killed, f"answering {3 + ready:.1f} s after the kill")
        )
        log(f"granian restarted: answering {3 + ready:.1f} s after the kill", started)

        if args.postgres:
            at(0.30)
            at_pg = time.monotonic()
            took = restart_postgres()
            events.append(("PostgreSQL restart", at_pg, f"pg_ctlcluster restart took {took:.1f} s"))
            log(f"fault: PostgreSQL restarted ({took:.1f} s)", started)

        if args.redis:
            at(0.42)
            down = max(10.0, 0.15 * duration)
            at_redis = time.monotonic()
            command = stop_redis()
            log(f"fault: Redis stopped for {down:.0f} s", started)
            time.sleep(down)
            start_redis(command)
            events.append(("Redis stopped", at_redis, f"{down:.0f} s down"))
            log("Redis started again", started)

        at(0.62)
        down = max(15.0, 0.20 * duration)
        at_ft = time.monotonic()
        sims[-1].fail_with(503)
        log(f"fault: Fast Track answers 503 for {down / 2:.0f} s", started)
        time.sleep(down / 2)
        sims[-1].stop()
        log(f"fault: Fast Track refuses connections for {down / 2:.0f} s", started)
        time.sleep(down / 2)
        sims.append(FastTrackSimulator(port=ft_port, api_key=FT_KEY).start())
        back = time.monotonic()
        from crm.models import OutboxEvent

        max_id = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        log("Fast Track back", started)
        while not sims[-1].received and time.monotonic() - back < 60:
            time.sleep(0.01)
        ft_back["resumed"] = time.monotonic() - back
        took = wait_outbox(max_id, 120)
        if took is not None:
            ft_back["catch_up"] = time.monotonic() - back
        events.append(("Fast Track down", at_ft, f"{down:.0f} s (503, then refused)"))
        log(
            f"Fast Track caught up: every event written before its return delivered {time.monotonic() - back:.1f} s after it",
            started,
        )

        at(0.88)
        procs["celery-worker"].kill()
        at_celery = time.monotonic()
        log("fault: SIGKILL the Celery worker", started)
        time.sleep(2)
        procs["celery-worker"].start()
        events.append(("Celery worker SIGKILL, restarted after 2 s", at_celery, ""))

    import threading

    faults = threading.Thread(target=schedule, name="faults", daemon=True)
    faults.start()
    log(f"load: {args.clients} provider connections, {args.rate:.0f} callbacks/s, {duration:.0f} s", started)
    api_answers: Counter = Counter()
    asyncio.run(drive(port, args.clients, args.players, args.rate, duration, provider, (web_port, token, api_answers)))
    faults.join()
    log(f"load over: {sum(provider.answers.values())} answers, {provider.retries} retried attempts", started)

    catch_up = ft_back.get("catch_up")
    drained = wait_outbox(None, 300)
    log("outbox drained" if drained is not None else "outbox NOT drained after 300 s", started)

    # --- Proofs ----------------------------------------------------------------------------------
    from crm.models import OutboxEvent

    failures: list[str] = []
    wallets = {
        a.player.external_id: a.balance + a.bonus_balance
        for a in Account.objects.filter(kind="player").select_related("player")
    }
    money_off = {
        u: (wallets[u], funds[u] + provider.believed.get(u, Decimal(0)))
        for u in wallets
        if wallets[u] != funds[u] + provider.believed.get(u, Decimal(0))
    }
    if money_off:
        failures.append(
            f"{len(money_off)} players' balances differ from the provider's ledger: {list(money_off.items())[:5]}"
        )
    if provider.unresolved:
        failures.append(f"{provider.unresolved} requests never got a definitive answer")
    if provider.anomalies:
        failures.append(f"{len(provider.anomalies)} anomalies: {provider.anomalies[:5]}")
    audit = subprocess.run([PY, "manage.py", "check_ledger"], cwd=ROOT, env=env, capture_output=True, text=True)
    if audit.returncode != 0:
        failures.append(f"check_ledger: {audit.stdout[-500:]} {audit.stderr[-500:]}")
    statuses = Counter(OutboxEvent.objects.values_list("status", flat=True))
    if set(statuses) - {"delivered"}:
        failures.append(f"outbox not all delivered: {dict(statuses)}")
    arrivals = first_arrivals(sims)
    position = {a: i for i, a in enumerate(arrivals)}
    out_of_order = 0
    missing = 0
    per_player: dict[int, list[str]] = defaultdict(list)
    for player_id, activity in OutboxEvent.objects.order_by("id").values_list("player_id", "activity_id"):
        per_player[player_id].append(activity)
    for activities in per_player.values():
        seen = [position[a] for a in activities if a in position]
        missing += len(activities) - len(seen)
        out_of_order += sum(1 for x, y in zip(seen, seen[1:], strict=False) if y < x)
    if missing or out_of_order:
        failures.append(f"Fast Track: {missing} events never arrived, {out_of_order} arrived out of order")
    if any("html" in key for key in api_answers):
        failures.append(f"the operator API answered HTML: {dict(api_answers)}")
    duplicates = sum(n - 1 for n in Counter(a for sim in sims for a in sim.activity_ids()).values() if n > 1)

    for proc in procs.values():
        proc.stop()
    for sim in sims[-1:]:
        sim.stop()

    print()
    print(f"callbacks answered        {sum(provider.answers.values())} ({dict(provider.answers)})")
    print(f"retried attempts          {provider.retries}")
    print(
        f"players checked           {len(wallets)}: balances = funds + provider's ledger: {'yes' if not money_off else 'NO'}"
    )
    print(f"check_ledger              {'clean' if audit.returncode == 0 else 'VIOLATIONS'}")
    print(
        f"Fast Track events         {sum(statuses.values())} rows, {dict(statuses)}; received {len(arrivals)} distinct, {duplicates} duplicate sends"
    )
    print(
        f"  order per player        {'kept' if not out_of_order else f'{out_of_order} inversions'}; missing {missing}"
    )
    resumed = ft_back.get("resumed")
    print(f"  first event accepted    {f'{resumed:.2f} s' if resumed is not None else 'n/a'} after Fast Track's return")
    print(
        f"  catch-up after return   {f'{catch_up:.1f} s' if catch_up is not None else 'n/a'} (every row written before the return delivered)"
    )
    print(f"operator API (web, pool)  {dict(api_answers)}")
    print("faults:")
    ends = [t for _, t, _ in events[1:]] + [float("inf")]
    for (fault, at_time, detail), until in zip(events, ends, strict=True):
        print(f"  {fault:<45} {detail:<38} {recovery(provider, at_time, until)}")
    print("log lines per process (ERROR lines / tracebacks):")
    for proc in procs.values():
        text = proc.text()
        print(
            f"  {proc.name:<15} {len(text.splitlines()):>6} lines, {text.count(' ERROR '):>4} ERROR, {text.count('Traceback'):>4} tracebacks, started {proc.starts}x"
        )
    kick_lines = sum(proc.text().count("outbox kick failed") for proc in procs.values())
    print(f"  'outbox kick failed' lines in all: {kick_lines}")
    print(f"total time {time.monotonic() - started:.0f} s; logs in {logdir}")
    if not args.keep_db:
        from django.db import connections

        connections.close_all()
        with admin_connect(args.database_url) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if failures:
        print("\nFAILED:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("\nOK: no money lost or doubled, check_ledger clean, every Fast Track event delivered in order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
