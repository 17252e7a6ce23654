"""`manage.py demo`: the whole product on embedded defaults, for a newcomer's first look.

Seeds demo players with real ledger history, prints an admin login, serves the ASGI app
with uvicorn, runs the periodic jobs in-process (no Celery beat needed), and starts each
area's simulator (`<package>.demo.run_demo`) against the running server.
"""

from __future__ import annotations

import importlib
import logging
import secrets
import threading
import time
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connections, transaction

from apikeys.services import tool_key
from wallet.models import Player
from wallet.selectors import wallet_get
from wallet.services.players import player_create
from wallet.services.postings import bet_place_apply, bet_settle_apply, deposit_apply

logger = logging.getLogger("touchline.demo")

DEMO_AREAS = ["wallet.igpx", "wallet.betsy", "feeds", "parlays", "crm"]
DEMO_PLAYERS = [("alice", ["EUR", "USD"], "200.00"), ("bob", ["EUR"], "50.00"), ("carol", ["USD", "BTC"], "1000.00")]


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


class Command(BaseCommand):
    help = "Seed demo data, print an admin login and serve Touchline with its simulators."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-simulators", action="store_true", help="serve only; no simulated traffic")
        parser.add_argument("--seed-only", action="store_true", help="seed and print the login, then exit")

    def handle(self, *args, host: str, port: int, no_simulators: bool, seed_only: bool, **options):
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
            )
        )
        if seed_only:
            return

        import uvicorn

        stop = threading.Event()
        server = uvicorn.Server(uvicorn.Config("config.asgi:application", host=host, port=port, log_level="warning"))
        threading.Thread(target=run_periodic_jobs, args=(stop,), name="demo:beat", daemon=True).start()

        def start_simulators() -> None:
            while not server.started and not stop.is_set():
                time.sleep(0.1)
            if not no_simulators:
                start_area_demos(base_url, stop, self.stdout)
            self.stdout.write("Serving; press Ctrl-C to stop.")

        threading.Thread(target=start_simulators, daemon=True).start()
        try:
            server.run()
        finally:
            stop.set()
