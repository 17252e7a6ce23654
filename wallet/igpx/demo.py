"""Demo traffic: IGPX players betting through the simulator against the running server.

`run_demo(base_url, stop)` is started in a thread by `manage.py demo`. It creates (once) a few
test players with EUR/USD wallets, keeps them funded, and drives the provider simulator at a
moderate rate until `stop` is set. Also launches one sportsbook session per player through the
client, so the auth/start-session path is exercised (against the fake API when IGPX_API_URL is
unset).
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

from django.conf import settings
from django.db import close_old_connections, transaction

from wallet.errors import InvalidRequest, WalletError
from wallet.igpx.simulator import ProviderSimulator, SimPlayer
from wallet.models import Player
from wallet.selectors import wallet_get
from wallet.services.players import player_create
from wallet.services.transfers import deposit_apply

logger = logging.getLogger("touchline.wallet.igpx.demo")

DEMO_PLAYERS = [
    SimPlayer("igpx-demo-alice", "EUR"),
    SimPlayer("igpx-demo-bob", "EUR"),
    SimPlayer("igpx-demo-carol", "USD"),
    SimPlayer("igpx-demo-dave", "GBP"),
]
FLOOR = Decimal("50")
TOP_UP = Decimal("500")
RATE = 4.0  # requests per second: visible in the admin, light on two cores


def ensure_players(players: list[SimPlayer] = DEMO_PLAYERS) -> None:
    """Create the demo players if missing and top up any wallet below FLOOR."""
    for sim in players:
        try:
            player_create(external_id=sim.user_id, currencies=[sim.currency], is_test=True, nickname=sim.user_id[10:])
        except InvalidRequest:
            pass  # already there
        with transaction.atomic(durable=True):
            wallet = wallet_get(external_id=sim.user_id, currency=sim.currency)
            if wallet.balance < FLOOR and wallet.status == Player.Status.ACTIVE:
                deposit_apply(wallet=wallet, amount=TOP_UP, reference=f"igpx-demo-topup-{sim.user_id}", actor_id=None)


def launch_sessions(players: list[SimPlayer] = DEMO_PLAYERS) -> None:
    from wallet.igpx.services import session_launch

    for sim in players:
        try:
            launched = session_launch(Player.objects.get(external_id=sim.user_id), {"currency": sim.currency})
            logger.info("igpx demo session for %s: %s", sim.user_id, launched["url"])
        except WalletError as exc:
            logger.warning("igpx demo session for %s failed: %s", sim.user_id, exc)


def run_demo(base_url: str, stop: threading.Event) -> None:
    try:
        ensure_players()
        launch_sessions()
        simulator = ProviderSimulator(
            base_url=base_url, secret=settings.IGPX_SECURITY_HASH, players=DEMO_PLAYERS, rate=RATE
        )
        try:
            while not stop.is_set():
                stats = simulator.run(stop=stop, max_requests=simulator.stats.sent + 60)
                logger.info("igpx demo: %s", stats.summary())
                ensure_players()
        finally:
            simulator.close()
    finally:
        close_old_connections()
