"""`manage.py demo`: the whole product on embedded defaults, for a newcomer's first look.

Seeds demo players with real ledger history, prints an admin login, serves the ASGI app
with uvicorn, runs the periodic jobs in-process (no Celery beat needed), and starts each
area's simulator (`<package>.demo.run_demo`) against the running server.

The terminal gets the login, then one short status line every few seconds; every log line goes
to a file (var/demo.log unless --log-file says otherwise), whose path is printed. Ctrl-C (or
SIGTERM) stops the server and the simulators and exits 0.
"""

from __future__ import annotations

import importlib
import logging
import secrets
import signal
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections, transaction

from apikeys.services import tool_key
from wallet.models import Bet, Player
from wallet.selectors import wallet_get
from wallet.services.players import player_create
from wallet.services.postings import bet_place_apply, bet_settle_apply
from wallet.services.transfers import deposit_apply

logger = logging.getLogger("touchline.demo")

DEMO_AREAS = ["wallet.igpx", "wallet.betsy", "feeds", "parlays", "crm"]
DEMO_PLAYERS = [("alice", ["EUR", "USD"], "200.00"), ("bob", ["EUR"], "50.00"), ("carol", ["USD", "BTC"], "1000.00")]
STATUS_EVERY_S = 5.0


def seed_players(out) -> None:
    for external_id, currencies, amount in DEMO_PLAYERS:
        if Player.objects.filter(external_id=external_id).exists():
            continue
        player_create(external_id=external_id, currencies=currencies, nickname=external_id.title(), is_test=True)
        with transaction.atomic():
            wallet = wallet_get(external_id=external_id, currency=currencies[0])
            deposit_apply(wallet=wallet, amount=Decimal(amount), reference=f"demo-{external_id}", actor_id=None)
        with transaction.atomic():
            wallet = wallet_get(external_id=external_id, currency=currencies[0])
            placed = bet_place_apply(
                provider="demo",
                external_id=f"demo-bet-{external_id}",
                wallet=wallet,
                amount=Decimal("5"),
                odds=Decimal("2.10"),
                selections=[
                    {
                        "sport": "Soccer",
                        "event": "Demo FC vs Example United",
                        "market": "1x2",
                        "outcome": "Demo FC",
                        "odds": "2.10",
                    }
                ],
            )
        with transaction.atomic():
            bet_settle_apply(bet_id=placed.bet.pk, amount=Decimal("10.50"), result="won")
        out.write(f"  demo player {external_id}: {currencies[0]} {amount} deposited, one bet won")


def ensure_admin(username: str) -> str:
    password = secrets.token_urlsafe(12)
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    return password


DEMO_ROLES = {"support": "Support", "risk": "Risk", "finance": "Finance"}


def ensure_role_users(password: str) -> None:
    """One staff user per role (same password as admin), to try what each role sees."""
    from django.contrib.auth.models import Group

    from wallet.services.backoffice import roles_ensure

    roles_ensure()
    user_model = get_user_model()
    for username, role in DEMO_ROLES.items():
        user, _ = user_model.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        user.is_staff, user.is_superuser = True, False
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get(name=role)])


def run_periodic_jobs(stop: threading.Event) -> None:
    """A tiny in-process Celery beat: each scheduled task, called eagerly at its interval."""
    from config.celery import app

    app.loader.import_default_modules()  # autodiscovery is lazy outside a worker: load every tasks.py
    next_run: dict[str, float] = {}
    while not stop.is_set():
        now = time.monotonic()
        for name, entry in dict(app.conf.beat_schedule or {}).items():
            schedule = entry.get("schedule")
            seconds = (
                schedule.total_seconds() if isinstance(schedule, timedelta) else getattr(schedule, "seconds", schedule)
            )
            if not isinstance(seconds, (int, float)):
                continue
            if now >= next_run.get(name, 0):
                next_run[name] = now + float(seconds)
                try:
                    app.tasks[entry["task"]].apply(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}))
                except Exception:
                    logger.exception("periodic job %s failed", name)
        stop.wait(1.0)


def _closing_connections(target):
    """`target` for a thread of its own, which closes the thread's database connections when it
    ends: persistent connections (CONN_MAX_AGE) would otherwise outlive their thread."""

    def run(*args):
        try:
            target(*args)
        finally:
            connections.close_all()

    return run


def start_area_demos(base_url: str, stop: threading.Event, out) -> list[threading.Thread]:
    threads = []
    for area in DEMO_AREAS:
        try:
            module = importlib.import_module(f"{area}.demo")
        except ModuleNotFoundError:
            continue
        thread = threading.Thread(
            target=_closing_connections(module.run_demo), args=(base_url, stop), name=f"demo:{area}", daemon=True
        )
        thread.start()
        threads.append(thread)
        out.write(f"  started simulator: {area}")
    return threads


def log_to_file(path) -> None:
    """Send every log record to `path` instead of the terminal (the status line replaces them).

    The settings' LOGGING itself is changed, because Celery's Django fix-up runs django.setup()
    again when the periodic jobs load their tasks, which re-applies LOGGING."""
    import logging.config

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    settings.LOGGING["handlers"]["console"] = {
        "class": "logging.FileHandler",
        "filename": str(path),
        "mode": "a",  # a re-applied LOGGING must not truncate what is there
        "encoding": "utf-8",
        "formatter": "plain",
    }
    logging.config.dictConfig(settings.LOGGING)
    logging.captureWarnings(True)


def status_line(started: float) -> str:
    """What the simulators have done so far, from the database: a few cheap counts."""
    from crm.models import OutboxEvent
    from feeds.models import FeedMessage, Market
    from parlays.models import QuoteRequest

    try:
        bets = Bet.objects.count()
        open_bets = Bet.objects.filter(status=Bet.Status.OPEN).count()
        feed, markets = FeedMessage.objects.count(), Market.objects.count()
        quotes = QuoteRequest.objects.count()
        delivered = OutboxEvent.objects.filter(status=OutboxEvent.Status.DELIVERED).count()
        pending = OutboxEvent.objects.exclude(status=OutboxEvent.Status.DELIVERED).count()
    finally:
        close_old_connections()
    up = int(time.monotonic() - started)
    return (
        f"[{up // 60:02d}:{up % 60:02d}] bets {bets} ({open_bets} open) · feed messages {feed}, markets {markets}"
        f" · parlay RFQs {quotes} · Fast Track delivered {delivered}, waiting {pending}"
    )


class _Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler while the command is seeding (before the server runs)."""


class Command(BaseCommand):
    help = "Seed demo data, print an admin login and serve Touchline with its simulators."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-simulators", action="store_true", help="serve only; no simulated traffic")
        parser.add_argument("--seed-only", action="store_true", help="seed and print the login, then exit")
        parser.add_argument("--log-file", default=str(settings.VAR_DIR / "demo.log"), help="where the logs go")

    def handle(self, *args, **options):
        def on_signal(signum, frame):
            # While seeding, leave at once. While serving, uvicorn's own handlers are in place;
            # it hands the signal back here after its shutdown, when there is nothing left to do.
            if not getattr(self, "_serving", False):
                raise _Stop

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._run(**options)
        except (_Stop, KeyboardInterrupt):
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("Stopped.")

    def _run(self, *, host: str, port: int, no_simulators: bool, seed_only: bool, log_file: str, **_) -> None:
        from pathlib import Path

        log_path = Path(log_file).resolve()
        log_to_file(log_path)
        self.stdout.write("Seeding demo data…")
        seed_players(self.stdout)
        password = ensure_admin("admin")
        ensure_role_users(password)
        api_key = tool_key("demo")
        base_url = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Back office: {base_url}/admin/   login: admin / {password}\n"
                f"  Roles:       {', '.join(DEMO_ROLES)} (same password): what Support, Risk and Finance see\n"
                f"  API docs:    {base_url}/api/docs/\n  Health:      {base_url}/readyz\n"
                f"  API key:     Authorization: Bearer {api_key}   (every scope; new on each start)\n"
                f"  Logs:        {log_path}\n"
            )
        )
        if seed_only:
            return

        import uvicorn

        stop = threading.Event()
        threads: list[threading.Thread] = []
        command = self

        class Server(uvicorn.Server):
            def handle_exit(self, sig, frame) -> None:
                """Stop the simulators before the server, so none of them sees it go away."""
                if stop.is_set():
                    super().handle_exit(sig, frame)
                    return
                stop.set()
                self._captured_signals.append(sig)
                command.stdout.write("\nStopping the simulators, then the server…")

                def shut_down() -> None:
                    deadline = time.monotonic() + 10
                    for thread in threads:
                        thread.join(max(0.0, deadline - time.monotonic()))
                    self.should_exit = True

                threading.Thread(target=shut_down, name="demo:shutdown", daemon=True).start()

        # log_config=None: uvicorn's loggers propagate to the root logger, so to the log file.
        config = uvicorn.Config("config.asgi:application", host=host, port=port, log_level="warning", log_config=None)
        server = Server(config)
        threading.Thread(target=run_periodic_jobs, args=(stop,), name="demo:beat", daemon=True).start()

        def start_simulators() -> None:
            while not server.started and not stop.is_set():
                time.sleep(0.1)
            if stop.is_set():
                return
            if not no_simulators:
                threads.extend(start_area_demos(base_url, stop, self.stdout))
            self.stdout.write(f"Serving on {base_url}; press Ctrl-C to stop.")
            self.report_status(stop)

        threading.Thread(target=start_simulators, name="demo:status", daemon=True).start()
        self._serving = True
        try:
            server.run()
        finally:
            stop.set()

    def report_status(self, stop: threading.Event) -> None:
        """One status line every STATUS_EVERY_S: rewritten in place on a terminal, appended otherwise."""
        started = time.monotonic()
        tty = sys.stdout.isatty()
        while not stop.wait(STATUS_EVERY_S):
            try:
                line = status_line(started)
            except Exception:  # a busy SQLite file, a migration missing: say so, keep serving
                logger.exception("demo status line failed")
                line = "status unavailable (see the log file)"
            if tty:
                sys.stdout.write("\r\x1b[K" + line)
                sys.stdout.flush()
            else:
                self.stdout.write(line)
