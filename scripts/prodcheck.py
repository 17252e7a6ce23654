"""`python3 scripts/dev.py prod-check`: run the production set-up as a whole, drive money and a
feed message through it, stop it. Run by the virtualenv's Python (dev.py does that).

1. A fresh PostgreSQL database, a flushed Redis database; production settings with random
   secrets (DEBUG off, SECRET_KEY required, no demo secret).
2. `migrate`, `collectstatic`, `check --deploy`.
3. `manage.py simulators`: IGPX's API, the UOF feed (RabbitMQ) and REST API, ProphetX, Fast Track.
4. `honcho start`: every process of the Procfile, pointed at the simulators by variables only.
5. Waits for /readyz on the callbacks and web processes, then checks: the admin's CSS is served;
   an IGPX bet and its result, signed as IGPX signs them, move the balance and reach the
   Fast Track simulator through the outbox and the Celery worker; feed messages published to
   RabbitMQ become market state through the UOF consumer.
6. Stops honcho and the simulators with SIGINT and checks that every process ended.

Everything is logged under var/prod-check/ (printed). Exits 1 with the reason and the end of
the process log when a step fails. Servers: PRODCHECK_DATABASE_URL, PRODCHECK_REDIS_URL and
PRODCHECK_AMQP_URL override the local defaults below.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the check imports the project (settings, models, the IGPX simulator)
BIN = Path(sys.executable).parent
LOGS = ROOT / "var" / "prod-check"
DATABASE_URL = os.environ.get("PRODCHECK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/touchline_prodcheck")
REDIS_URL = os.environ.get("PRODCHECK_REDIS_URL", "redis://127.0.0.1:6379/14")
AMQP_URL = os.environ.get("PRODCHECK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
# Variables of a developer's or CI's shell that must not leak into the production set.
NOT_PASSED_ON = (
    "DATABASE_URL",
    "DATABASE_TEST_NAME",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "DEBUG",
    "DJANGO_SETTINGS_MODULE",
    "TOUCHLINE_DEMO",
    "TOUCHLINE_HTTPS",
    "SECURE_HSTS_SECONDS",
)
# What the TLS-terminating proxy in front of the web processes adds to every request it passes on.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


class CheckFailed(Exception):
    pass


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def wait_until(what: str, condition: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except Exception as exc:  # not up yet: keep asking until the deadline
            result, last = None, exc
        else:
            last = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last})" if last else ""))
        time.sleep(0.5)


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=PROXY_HEADERS), timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def production_env(ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_PASSED_ON and not k.startswith("TOUCHLINE_TEST_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # granian, gunicorn, celery, python: the virtualenv's
        PYTHONUNBUFFERED="1",
        DEBUG="false",  # and no TOUCHLINE_DEMO: production mode, which refuses the demo secrets
        TRUST_X_FORWARDED_PROTO="true",  # HTTPS is on; the local requests come "through the proxy"
        SECRET_KEY=secrets.token_urlsafe(50),
        IGPX_SECURITY_HASH=secrets.token_hex(32),
        BETSY_PARTNER_SECRET=secrets.token_urlsafe(32),
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        CELERY_BROKER_URL=REDIS_URL,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        UOF_AMQP_URL=AMQP_URL,
        PROMETHEUS_MULTIPROC_DIR=str(LOGS / "metrics"),
        # The Procfile's own variables: small on a 2-core machine.
        HOST="127.0.0.1",
        CALLBACKS_PORT=str(ports["callbacks"]),
        WEB_PORT=str(ports["web"]),
        CALLBACKS_WORKERS="2",
        WEB_WORKERS="1",
        CELERY_BEAT_SCHEDULE=str(LOGS / "celerybeat-schedule"),
    )
    return env


def fresh_servers() -> None:
    """Drop and create the database, empty the Redis database (leftover tasks of an earlier run)."""
    import psycopg
    import redis

    name = psycopg.conninfo.conninfo_to_dict(DATABASE_URL)["dbname"]
    with psycopg.connect(DATABASE_URL, dbname="postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).flushdb()


def manage(env: dict[str, str], *args: str) -> None:
    log = LOGS / "manage.log"
    with log.open("a") as out:
        code = subprocess.call([sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=out, stderr=out)
    if code != 0:
        raise CheckFailed(f"manage.py {' '.join(args)} exited {code} (see {log})")


def deploy_check(env: dict[str, str]) -> None:
    """`check --deploy` under the production variables: any warning fails."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    (LOGS / "check-deploy.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise CheckFailed(f"manage.py check --deploy failed:\n{result.stdout}{result.stderr}")


def start(name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    out = (LOGS / f"{name}.log").open("w")
    # A session of its own: a Ctrl-C at the terminal reaches it through stop() only, and a
    # process group we can end as a whole if it does not stop.
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(name: str, process: subprocess.Popen, timeout: float = 60) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise CheckFailed(f"{name} did not stop within {timeout:.0f} s of SIGINT") from None


def read_env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def drive_money(env: dict[str, str], callbacks_url: str) -> str:
    """An IGPX bet and its result through the callbacks process; both Fast Track events delivered."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from decimal import Decimal

    import httpx
    from django.db import transaction

    from crm.models import OutboxEvent
    from wallet.igpx.simulator import ProviderSimulator, SimPlayer
    from wallet.models import Bet, Settlement
    from wallet.selectors import wallet_get
    from wallet.services.players import player_create
    from wallet.services.transfers import deposit_apply

    player = SimPlayer(f"prodcheck-{secrets.token_hex(3)}", "EUR")
    player_create(external_id=player.user_id, currencies=["EUR"], nickname="prod-check")  # not a test player
    with transaction.atomic():
        wallet = wallet_get(external_id=player.user_id, currency="EUR")
        deposit_apply(wallet=wallet, amount=Decimal("100"), reference=f"{player.user_id}-deposit", actor_id=None)
    http = httpx.Client(timeout=10, headers=PROXY_HEADERS)
    simulator = ProviderSimulator(
        base_url=callbacks_url, secret=env["IGPX_SECURITY_HASH"], players=[player], rate=0, http=http
    )
    try:
        bet = simulator.send("transaction", simulator.bet(player, "10.00"))
        if bet.error is not None:
            raise CheckFailed(f"IGPX bet answered {bet.error}: {bet.body[:300]!r}")
        result = simulator.send("transaction", simulator.result(player, "19.00"))
        if result.error is not None:
            raise CheckFailed(f"IGPX result answered {result.error}: {result.body[:300]!r}")
    finally:
        http.close()
    balance = wallet_get(external_id=player.user_id, currency="EUR").balance
    if balance != Decimal("109"):
        raise CheckFailed(f"balance after bet 10 and win 19 on 100 is {balance}, not 109")
    # IGPX results carry no bet reference: the bet stays open, the result is a settlement of its own.
    if not Bet.objects.filter(player__external_id=player.user_id).exists():
        raise CheckFailed("the IGPX bet was not recorded")
    if not Settlement.objects.filter(player__external_id=player.user_id, kind=Settlement.Kind.RESULT).exists():
        raise CheckFailed("the IGPX result was not recorded")

    def delivered() -> bool:
        rows = list(OutboxEvent.objects.filter(player_id=wallet.player_id).values_list("status", flat=True))
        return len(rows) >= 2 and all(status == OutboxEvent.Status.DELIVERED for status in rows)

    wait_until("the bet's Fast Track events delivered by the Celery worker", delivered, 60)
    return player.user_id


def feed_reached_market_state() -> int:
    from feeds.models import FeedMessage, Market

    wait_until("feed messages from RabbitMQ applied by the UOF consumer", FeedMessage.objects.exists, 60)
    return wait_until("market state from the feed", Market.objects.count, 60)


def run() -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    (LOGS / "metrics").mkdir(exist_ok=True)
    for old in (LOGS / "metrics").glob("*"):
        old.unlink()
    say(f"logs in {LOGS}")
    from config.ports import listen_port

    ports = {"callbacks": listen_port(), "web": listen_port()}
    env = production_env(ports)
    say(f"fresh database {DATABASE_URL}, Redis {REDIS_URL}")
    fresh_servers()
    say("migrate, collectstatic, check --deploy")
    manage(env, "migrate", "--no-input", "-v", "0")
    manage(env, "collectstatic", "--no-input", "-v", "0")
    deploy_check(env)
    processes: dict[str, subprocess.Popen] = {}
    try:
        env_file = LOGS / "simulators.env"
        env_file.unlink(missing_ok=True)
        say("starting the simulators (manage.py simulators)")
        processes["simulators"] = start(
            "simulators", [sys.executable, "manage.py", "simulators", "--env-file", str(env_file)], env
        )
        wait_until("the simulators' variables", env_file.exists, 60)
        env.update(read_env_file(env_file))
        say("starting the Procfile with honcho: " + ", ".join(procfile_names()))
        processes["honcho"] = start("honcho", [str(BIN / "honcho"), "start", "--no-colour"], env)
        callbacks, web = (f"http://127.0.0.1:{ports[name]}" for name in ("callbacks", "web"))
        for name, url in (("callbacks", callbacks), ("web", web)):
            wait_until(f"{name} /readyz answering 200", lambda url=url: http_status(url + "/readyz") == 200, 120)
            say(f"{name} ready at {url}")
        for path in ("/admin/login/", "/static/admin/css/base.css"):
            if http_status(web + path) != 200:
                raise CheckFailed(f"web {path} is not served (collectstatic? whitenoise?)")
        say("admin and its static files served")
        player = drive_money(env, callbacks)
        say(f"IGPX bet and result for {player}: balance 109.00, both events delivered to Fast Track")
        say(f"feed: {feed_reached_market_state()} markets from messages consumed off RabbitMQ")
        for name, process in processes.items():
            if process.poll() is not None:
                raise CheckFailed(f"{name} exited early with {process.returncode}")
    except BaseException:
        tail = (LOGS / "honcho.log").read_text(errors="replace").splitlines()[-40:] if "honcho" in processes else []
        print("\n".join(["--- end of var/prod-check/honcho.log ---", *tail]), file=sys.stderr)
        raise
    finally:
        say("stopping (SIGINT)")
        for name in ("honcho", "simulators"):
            if name in processes:
                stop(name, processes[name])
    leftovers = subprocess.run(["pgrep", "-f", "--", f"--port {ports['callbacks']}"], capture_output=True, text=True)
    if leftovers.stdout.strip():
        raise CheckFailed(f"processes still running after the stop: {leftovers.stdout.split()}")


def procfile_names() -> list[str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return [line.split(":", 1)[0] for line in lines if line and not line.startswith("#") and ":" in line]


def interrupted(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM (CI's timeout) stops the processes like Ctrl-C does


def main() -> int:
    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    try:
        run()
    except CheckFailed as exc:
        print(f"prod-check FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("prod-check interrupted", file=sys.stderr)
        return 130
    say(f"prod-check passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
