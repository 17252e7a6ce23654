"""Demo: a simulated ProphetX sends RFQs; our listener quotes them, confirms some, follows the
orders to settlement. Everything shows up in the admin under "ProphetX parlays".

`run_demo(base_url, stop)` is started in a thread by `manage.py demo`. It runs the simulator and
a listener in-process (the listener uses the simulator's games as its price source, chained
after the real feeds selector) so it needs nothing configured.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from decimal import Decimal

from django.db import transaction

from parlays import conf
from parlays.models import CorrelationRule, PxEvent
from parlays.simulator import ProphetXSimulator, SimPriceSource, make_games

logger = logging.getLogger("touchline.parlays.demo")

DEMO_CORRELATIONS = [
    ("hcp_home", "total_over", Decimal("1.04"), False, "favourite covers with the over"),
    ("hcp_away", "total_under", Decimal("1.03"), False, "underdog covers with the under"),
    ("hcp_home", "total_under", Decimal("1.00"), False, ""),
    ("hcp_away", "total_over", Decimal("1.00"), False, ""),
    ("hcp_home", "winner_home", Decimal("1"), True, "nested: moneyline + spread, same game"),
    ("hcp_away", "winner_away", Decimal("1"), True, "nested: moneyline + spread, same game"),
    ("hcp_home", "winner_away", Decimal("1"), True, "contradictory"),
    ("hcp_away", "winner_home", Decimal("1"), True, "contradictory"),
    ("total_over", "winner_home", Decimal("1.00"), False, ""),
    ("total_over", "winner_away", Decimal("1.00"), False, ""),
    ("total_under", "winner_home", Decimal("1.00"), False, ""),
    ("total_under", "winner_away", Decimal("1.00"), False, ""),
]


def simulated_price_source() -> SimPriceSource:
    """The default simulator's games as prices (same seed, so the same games in every process)."""
    return SimPriceSource(make_games())


def map_simulator_events(sim: ProphetXSimulator) -> None:
    """What staff do in the admin: tell us which UOF event each ProphetX event is."""
    with transaction.atomic():
        for game in sim.games:
            PxEvent.objects.update_or_create(
                sport_event_id=game.px_event_id,
                defaults={"name": game.name, "event_urn": game.event_urn, "scheduled": game.scheduled},
            )
        for a, b, factor, blocked, note in DEMO_CORRELATIONS:
            a, b = sorted((a, b))
            CorrelationRule.objects.get_or_create(
                class_a=a, class_b=b, defaults={"factor": factor, "blocked": blocked, "note": note}
            )


def run_demo(base_url: str, stop: threading.Event) -> None:
    from parlays.listener import build, run_in_thread
    from parlays.prices import ChainPriceSource, FeedsPriceSource
    from parlays.protocol.rest import ProphetXClient
    from parlays.services.lines import seed_reference_data, sync_supported_lines

    sim = ProphetXSimulator().start()
    settings = conf.get()
    client = ProphetXClient(sim.rest_url, sim.access_key, sim.secret_key)
    try:
        map_simulator_events(sim)
        logger.info("ProphetX demo: seeded %s", seed_reference_data(client, settings))
        logger.info("ProphetX demo: supported lines %s", sync_supported_lines(client))
        listener = build(
            settings=settings,
            client=client,
            price_source=ChainPriceSource(FeedsPriceSource(), sim.price_source()),
            ws_url_override=sim.ws_url,
        )
        _, stop_listener = run_in_thread(listener)
        listener.connected.wait(10)
        rng = random.Random(11)
        pending: list[tuple[float, str]] = []
        while not stop.is_set():
            same_game = rng.random() < 0.2
            legs = sim.pick_legs(rng.randint(2, 3) if same_game else rng.randint(2, 6), rng, same_game=same_game)
            parlay = sim.ask(legs, stake=Decimal(rng.choice(["5", "10", "20"])))
            offers = sim.wait_offers(parlay, 3)
            if offers and rng.random() < 0.5:
                order = sim.confirm(parlay, stake=min(Decimal(str(offers[0]["max_risk"])), Decimal("100")))
                pending.append((time.monotonic() + rng.uniform(10, 40), order))
            for due, order in list(pending):
                if due <= time.monotonic():
                    pending.remove((due, order))
                    if sim.orders[order].status == "finalized":
                        sim.settle(order, rng.choice(["won", "won", "lost", "void"]))
            stop.wait(rng.uniform(1.0, 3.0))
        stop_listener()
    except Exception:
        logger.exception("ProphetX demo stopped")
    finally:
        client.close()
        sim.stop()
