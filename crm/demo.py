"""Demo: a fake Fast Track receiving this process's SPORTSBOOK events over REST.

`manage.py demo` runs `run_demo(base_url, stop)` in a thread of the server process. It starts
the simulator (crm/simulator.py) on a free local port and points this process's delivery at
it, whatever FASTTRACK_TRANSPORT says. The seeded demo players are test players, which are
never exported, so a non-test player ("ft-demo") bets now and then through the wallet
postings; every event the simulator accepts is logged, and the admin's "Fast Track events"
page shows the outbox.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from decimal import Decimal

from django.db import close_old_connections, transaction

from crm.services import deliver_pending
from crm.simulator import FastTrackSimulator
from crm.transports import set_override
from crm.transports.rest import RestTransport

logger = logging.getLogger("touchline.demo.crm")

PLAYER = "ft-demo"
API_KEY = "demo-fasttrack-key"
LEGS = [
    {"sport": "Soccer", "tournament": "Premier League", "event": "Arsenal vs Chelsea", "market": "1x2",
     "outcome": "Arsenal", "odds": "2.10", "event_date": "2030-05-01T19:45:00Z", "is_live": False},
    {"sport": "Tennis", "tournament": "Roland Garros", "event": "Alcaraz vs Sinner", "market": "Winner",
     "outcome": "Alcaraz", "odds": "1.80", "event_date": "2030-06-01T13:00:00Z", "is_live": True},
    {"sport": "Soccer", "tournament": "La Liga", "event": "Real vs Barca", "market": "Scorecast",
     "outcome": "Vinicius & 2-1", "odds": "31", "event_date": "2030-05-02T20:00:00Z", "is_live": False},
]  # fmt: skip


def _ensure_player() -> None:
    from wallet.models import Player
    from wallet.services.players import player_create

    if not Player.objects.filter(external_id=PLAYER).exists():
        player_create(external_id=PLAYER, currencies=["EUR"], nickname="Fast Track demo")


def _one_round(n: int, rng: random.Random, run: str = "") -> None:
    """A bet and what happens to it, each step its own money transaction (as in production)."""
    from wallet.selectors import wallet_get
    from wallet.services import postings, transfers

    wallet = wallet_get(external_id=PLAYER, currency="EUR")
    if wallet.balance < 50:
        with transaction.atomic():
            transfers.deposit_apply(
                wallet=wallet, amount=Decimal("200"), reference=f"ft-demo-topup-{run}{n}", actor_id=None
            )
        wallet = wallet_get(external_id=PLAYER, currency="EUR")
    legs = rng.sample(LEGS, rng.choice([1, 1, 2, 3]))
    with transaction.atomic():
        placed = postings.bet_place_apply(
            provider="demo",
            external_id=f"ft-demo-{run}{n}-{rng.randrange(10**9)}",
            wallet=wallet,
            amount=Decimal(rng.choice(["2.00", "5.00", "10.00"])),
            bet_type="multi" if len(legs) > 1 else "single",
            selections=legs,
        )
    bet_id, stake = placed.bet.pk, placed.bet.stake
    outcome = rng.choice(["won", "lost", "lost", "cashout", "resettle", "rollback"])
    with transaction.atomic():
        if outcome == "rollback":
            postings.bet_rollback_apply(bet_id=bet_id)
        elif outcome == "lost":
            postings.bet_settle_apply(bet_id=bet_id, amount=Decimal(0), result="lost")
        elif outcome == "cashout":
            postings.bet_settle_apply(
                bet_id=bet_id, amount=(stake * Decimal("0.8")).quantize(Decimal("0.01")), result="cashout"
            )
        else:
            postings.bet_settle_apply(bet_id=bet_id, amount=stake * 2, result="won")
    if outcome == "resettle":
        with transaction.atomic():
            postings.bet_settle_apply(bet_id=bet_id, amount=stake, result="refund")


def run_demo(base_url: str, stop: threading.Event, *, interval: float = 10.0) -> None:
    simulator = FastTrackSimulator(api_key=API_KEY).start()
    transport = RestTransport(simulator.url, API_KEY)
    set_override(transport)
    logger.info("Fast Track simulator listening on %s (POST /v1/integration/sports)", simulator.url)
    rng = random.Random(7)
    run = f"{uuid.uuid4().hex[:8]}-"  # the same seed on every start: ids must differ per start
    seen = 0
    n = 0
    try:
        _ensure_player()
        while not stop.is_set():
            n += 1
            try:
                _one_round(n, rng, run)
                deliver_pending(transport=transport, time_budget=5)  # anything the on-commit kick left
            except Exception:  # the demo keeps going; the outbox keeps what was not delivered
                logger.exception("crm demo round failed")
            received = simulator.received[seen:]
            seen += len(received)
            for event in received:
                logger.info(
                    "Fast Track got %s %s/%s amount=%s ref=%s",
                    event["activity_id"], event["type"], event["status"], event["amount"],
                    event["activity_id_reference"] or "-",
                )  # fmt: skip
            close_old_connections()
            stop.wait(interval)
    finally:
        set_override(None)
        transport.close()
        simulator.stop()
