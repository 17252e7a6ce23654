"""Moderate Betsy traffic for `manage.py demo`: a few players betting, winning, losing, with the
occasional resettle, unsettle, cash-out, rollback and retry, until `stop` is set."""

from __future__ import annotations

import logging
import random
import threading
import time
from decimal import Decimal

from django.conf import settings

from wallet.betsy.simulator import Betsy, Operator, http_transport, new_transaction_id, selection

logger = logging.getLogger("touchline.wallet.betsy.demo")

PLAYERS = ("betsy-demo-1", "betsy-demo-2", "betsy-demo-3", "betsy-demo-4")
CURRENCY = "EUR"
EVENTS = [
    ("Arsenal - Chelsea", "Arsenal"),
    ("Real Madrid - Barcelona", "Draw"),
    ("Bayern - Dortmund", "Over 2.5"),
    ("Lakers - Celtics", "Celtics"),
    ("Djokovic - Alcaraz", "Alcaraz"),
]


def operator_key() -> str:
    """An operator API key of the demo's own (the demo runs beside the server, on its database)."""
    from apikeys.services import tool_key

    return tool_key("betsy-demo")


def run_demo(base_url: str, stop: threading.Event) -> None:
    rng = random.Random()
    betsy = Betsy(http_transport(base_url), settings.BETSY_PARTNER_SECRET)
    operator = Operator(base_url, operator_key())
    tokens: dict[str, str] = {}
    open_bets: list[tuple[str, str, Decimal, Decimal]] = []  # (tx, player, stake, odds)
    settled: list[tuple[str, str, Decimal]] = []  # (tx, player, payout)

    while not stop.is_set():
        try:
            if not tokens:
                for player in PLAYERS:
                    operator.ensure_player(player, CURRENCY)
                    tokens[player] = operator.launch(player, CURRENCY)
            player = rng.choice(PLAYERS)
            token = tokens[player]
            balance = Decimal(betsy.balance(player, CURRENCY, token).data["amount"])
            if balance < 20:
                operator.deposit(player, CURRENCY, "100.00")
            roll = rng.random()
            if roll < 0.45 or not open_bets:
                event, outcome = rng.choice(EVENTS)
                odds = Decimal(rng.choice(["1.45", "1.90", "2.10", "3.25", "5.00"]))
                stake = Decimal(rng.randint(1, 15))
                tx = new_transaction_id()
                reply = betsy.place(
                    tx,
                    player,
                    CURRENCY,
                    stake,
                    token,
                    coefficient=odds,
                    metadata=[selection(event=event, outcome=outcome, coefficient=odds)],
                )
                if reply.status == 200:
                    open_bets.append((tx, player, stake, odds))
                    if rng.random() < 0.05:
                        betsy.retry()  # a timeout on Betsy's side: same bytes again
                    if rng.random() < 0.03:
                        betsy.rollback(tx, player, CURRENCY, stake, error_code=8)  # control stage: odds changed
                        open_bets.pop()
            elif roll < 0.85:
                tx, owner, stake, odds = open_bets.pop(rng.randrange(len(open_bets)))
                if rng.random() < 0.45:
                    payout, result = (stake * odds).quantize(Decimal("0.01")), "won"
                elif rng.random() < 0.1:
                    payout, result = (stake * odds * Decimal("0.6")).quantize(Decimal("0.01")), "cashout"
                else:
                    payout, result = Decimal(0), "lost"
                reply = betsy.settle(
                    tx, owner, CURRENCY, payout, result, token=tokens[owner] if result == "cashout" else None
                )
                if reply.status == 200:
                    settled.append((tx, owner, payout))
            elif settled:
                tx, owner, payout = settled.pop(rng.randrange(len(settled)))
                if rng.random() < 0.5:
                    betsy.settle(tx, owner, CURRENCY, payout + 1, "won")  # a corrected result
                else:
                    betsy.unsettle(tx, owner, CURRENCY, payout)  # result withdrawn: open again
            if rng.random() < 0.02:
                betsy.rollback(new_transaction_id(), player, CURRENCY, Decimal(3))  # rollback before any bet
        except Exception as exc:  # the server may not be up yet, or restarting: keep going
            logger.info("betsy demo: %s", exc)
            tokens.clear()
            stop.wait(2)
            continue
        stop.wait(rng.uniform(0.3, 1.2))


def main(base_url: str = "http://127.0.0.1:8000", seconds: float = 30) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=run_demo, args=(base_url, stop), daemon=True)
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
