"""The bettor's side of ProphetX's RFQ flow, played by the simulator: price.ask.new broadcast with
the legs, the offers our callback receives, the bettor's confirmation, finalize, settle, and a
steady stream of asks (`run_traffic`).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from parlays.protocol import odds as am

if TYPE_CHECKING:
    from parlays.simulator.games import SimGame, SimMarket, SimOutcome


def _bettor_stake(risk: Decimal, bettor_odds: int) -> Decimal:
    stake = Fraction(risk) / (am.to_decimal(bettor_odds) - 1)
    return (Decimal(stake.numerator) / Decimal(stake.denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class SimAsk:
    parlay_id: str
    legs: list[tuple[SimGame, SimMarket, SimOutcome]]
    stake: Decimal
    sent_ns: int
    offers: list[dict] = field(default_factory=list)
    offer_received_ns: int | None = None
    offer_error: str = ""
    event: threading.Event = field(default_factory=threading.Event)


@dataclass
class SimOrder:
    order_uuid: str
    parlay_id: str
    sp_odds: int
    stake: Decimal  # SP risk requested
    status: str = "pending"  # pending / accepted / rejected / finalized / settled
    answer: dict | None = None
    confirmed_stake: Decimal | None = None
    settlement_status: str = ""
    profit: Decimal | None = None
    event: threading.Event = field(default_factory=threading.Event)


def ask_payload(
    parlay_id: str,
    stake: Decimal,
    callback_url: str,
    created_at_ns: int,
    legs: list[tuple[SimGame, SimMarket, SimOutcome]],
) -> dict:
    """A price.ask.new payload, as ProphetX broadcasts it, for these legs."""
    return {
        "parlay_id": parlay_id,
        "stake": stake,
        "callback_url": callback_url,
        "created_at": created_at_ns,
        "market_lines": [
            {
                **({"line": o.line} if o.line is not None else {}),
                "line_id": o.line_id,
                "market_id": m.market_id,
                "outcome_id": o.outcome_id,
                "sport_event_id": g.px_event_id,
            }
            for g, m, o in legs
        ],
    }


class RfqFlow:
    """ProphetXSimulator's RFQ methods (its state is set up in server.py)."""

    def pick_legs(self, count: int, rng: random.Random | None = None, *, same_game: bool = False) -> list[str]:
        rng = rng or random.Random()
        if same_game:
            game = rng.choice(self.games)
            markets = rng.sample(game.markets, min(count, len(game.markets)))
            return [rng.choice(m.outcomes).line_id for m in markets]
        games = rng.sample(self.games, min(count, len(self.games)))
        return [rng.choice(rng.choice(g.markets).outcomes).line_id for g in games]

    def ask(
        self, line_ids: list[str], stake: Decimal | str = "10", *, parlay_id: str | None = None, duplicate: bool = False
    ) -> str:
        parlay_id = parlay_id or str(uuid.uuid4())
        legs = [self.lines[line_id] for line_id in line_ids]
        now = time.time_ns()
        record = SimAsk(parlay_id, legs, Decimal(stake), time.perf_counter_ns())
        with self._lock:
            self.asks[parlay_id] = record
        payload = ask_payload(parlay_id, Decimal(stake), f"{self.rest_url}/parlay/sp/order/offers", now, legs)
        self.publish(self.broadcast_channel, "price.ask.new", payload, now)
        if duplicate:
            self.publish(self.broadcast_channel, "price.ask.new", payload, now)
        return parlay_id

    def wait_offers(self, parlay_id: str, timeout: float = 5.0) -> list[dict]:
        record = self.asks[parlay_id]
        record.event.wait(timeout)
        return record.offers

    def confirm(
        self, parlay_id: str, *, offer_index: int = 0, stake: Decimal | str | None = None, odds: int | None = None
    ) -> str:
        """The bettor accepts: price.confirm.new on the private channel (SP-side odds, SP risk)."""
        record = self.asks[parlay_id]
        offer = record.offers[offer_index] if record.offers else {"odds": odds or 500, "max_risk": Decimal("100")}
        bettor_odds = odds if odds is not None else offer["odds"]
        risk = Decimal(stake) if stake is not None else Decimal(str(offer["max_risk"]))
        order_uuid = str(uuid.uuid4())
        order = SimOrder(order_uuid, parlay_id, am.bettor_to_sp(bettor_odds), risk)
        with self._lock:
            self.orders[order_uuid] = order
        self.publish(
            self.private_channel,
            "price.confirm.new",
            {
                "parlay_id": parlay_id,
                "order_uuid": order_uuid,
                "callback_url": f"{self.rest_url}/parlay/sp/order/confirm",
                "odds": order.sp_odds,
                "stake": risk,
            },
        )
        return order_uuid

    def wait_confirmation(self, order_uuid: str, timeout: float = 5.0) -> SimOrder:
        order = self.orders[order_uuid]
        order.event.wait(timeout)
        return order

    def finalize(self, order_uuid: str) -> None:
        order = self.orders[order_uuid]
        stake = order.confirmed_stake if order.confirmed_stake is not None else order.stake
        order.status = "finalized"
        now = time.time_ns()
        self.publish(
            self.private_channel,
            "order.finalized",
            {
                "confirmed_odds": order.sp_odds,
                "confirmed_stake": stake,
                "odds": order.sp_odds,
                "order_uuid": order_uuid,
                "parlay_id": order.parlay_id,
                "status": "finalized",
                "updated_at": now,
            },
        )
        record = self.asks.get(order.parlay_id)
        bettor_stake = _bettor_stake(stake, am.sp_to_bettor(order.sp_odds))
        self.publish(
            self.broadcast_channel,
            "order.matched",
            {
                "market_lines": [
                    {
                        "line_id": o.line_id,
                        "market_id": m.market_id,
                        "outcome_id": o.outcome_id,
                        "sport_event_id": g.px_event_id,
                    }
                    for g, m, o in (record.legs if record else [])
                ],
                "matched_at": now,
                "matched_odds": order.sp_odds,  # production sends the SP-side sign
                "matched_stake": bettor_stake,
                "parlay_id": order.parlay_id,
                "timestamp": now,
            },
        )

    def settle(self, order_uuid: str, result: str) -> None:
        """Settle from the SP's side: 'won' (we keep the bettor's stake), 'lost' (we pay our risk), 'void'."""
        order = self.orders[order_uuid]
        risk = order.confirmed_stake if order.confirmed_stake is not None else order.stake
        bettor_stake = _bettor_stake(risk, am.sp_to_bettor(order.sp_odds))
        profit = {"won": bettor_stake, "lost": -risk, "void": Decimal("0"), "push": Decimal("0")}[result]
        order.status, order.settlement_status, order.profit = "settled", result, profit
        now = time.time_ns()
        self.publish(
            self.private_channel,
            "order.settled",
            {
                "order_uuid": order_uuid,
                "parlay_id": order.parlay_id,
                "settlement_status": result,
                "settled_at": now,
                "profit": profit,
            },
        )
        self.publish(
            self.private_channel,
            "parlay.settled",
            {"parlay_id": order.parlay_id, "settlement_status": result, "settled_at": now, "profit": profit},
        )

    def run_traffic(
        self,
        *,
        rate_per_s: float,
        duration_s: float,
        legs: tuple[int, int] = (2, 12),
        confirm_every: int = 0,
        seed: int = 1,
        stop: threading.Event | None = None,
    ) -> list[str]:
        """Broadcast RFQs at a steady rate; confirm every Nth quoted one (0: none)."""
        rng = random.Random(seed)
        interval = 1.0 / rate_per_s
        start = time.monotonic()
        sent: list[str] = []
        for n in itertools.count():
            target = start + n * interval
            if target - start >= duration_s or (stop is not None and stop.is_set()):
                break
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            count = rng.randint(legs[0], min(legs[1], len(self.games)))
            sent.append(self.ask(self.pick_legs(count, rng), stake=Decimal(rng.choice(["5", "10", "25", "3.49"]))))
            if confirm_every and n % confirm_every == confirm_every - 1:
                parlay = sent[-1]
                threading.Thread(target=self._confirm_later, args=(parlay,), daemon=True).start()
        return sent

    def _confirm_later(self, parlay_id: str) -> None:
        offers = self.wait_offers(parlay_id, 3)
        if offers:
            stake = min(Decimal(str(offers[0]["max_risk"])), Decimal("50"))
            self.confirm(parlay_id, stake=stake)
