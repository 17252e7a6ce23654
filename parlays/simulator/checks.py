"""What ProphetX checks in our answers (docs/prophetx.md): offers must carry positive integer odds,
valid_until at least 5 s ahead, one estimated price per leg that reproduces the parlay price
("invalid estimated prices"); an accept must echo the odds and carry probabilities whose product
is the implied probability ("Invalid Probability"). Each returns the error ProphetX would answer
with, "" when it would accept.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from fractions import Fraction
from typing import Any

from parlays.protocol import odds as am
from parlays.simulator.rfq import SimAsk, SimOrder

NS = 1_000_000_000


def offers_error(data: Any, record: SimAsk | None) -> str:
    if record is None:
        return "invalid parlay_id"
    offers = data.get("offers")
    if not isinstance(offers, list) or not offers:
        return "offers must be a non-empty list"
    legs = {o.line_id for _, _, o in record.legs}
    now = time.time_ns()
    for offer in offers:
        odds = offer.get("odds")
        if isinstance(odds, bool) or not isinstance(odds, int) or odds < 100:
            return "invalid odds"
        risk = offer.get("max_risk")
        if isinstance(risk, bool) or not isinstance(risk, (int, Decimal)) or risk <= 0:
            return "invalid max_risk"
        valid_until = offer.get("valid_until")
        if not isinstance(valid_until, int) or valid_until < now + 5 * NS:
            return "invalid valid_until"
        prices = offer.get("estimated_price")
        if not isinstance(prices, list) or {p.get("line_id") for p in prices} != legs or len(prices) != len(legs):
            return "invalid estimated prices"
        try:
            leg_odds = [am.check_american(p.get("odds")) for p in prices]
        except Exception:
            return "invalid estimated prices"
        if am.parlay_american(leg_odds) != odds:
            return "invalid estimated prices"
    return ""


def confirm_error(data: dict, order: SimOrder, record: SimAsk | None) -> str:
    action = data.get("action")
    if action not in ("accept", "reject"):
        return "invalid action"
    if action == "reject":
        return ""
    if data.get("confirmed_odds") != order.sp_odds:
        return "invalid confirmed odds"
    stake = data.get("confirmed_stake")
    if stake is not None and (not isinstance(stake, (int, Decimal)) or stake <= 0 or stake > order.stake):
        return "invalid confirmed stake"
    legs = {o.line_id for _, _, o in record.legs} if record else set()
    target = am.implied_probability(am.sp_to_bettor(order.sp_odds))
    entries = data.get("price_probability")
    if not isinstance(entries, list) or not entries:
        return "Invalid Probability"
    for entry in entries:
        lines = entry.get("lines") if isinstance(entry, dict) else None
        if not isinstance(lines, list) or {x.get("line_id") for x in lines} != legs:
            return "Invalid Probability"
        product = math.prod(Fraction(str(x.get("probability"))) for x in lines)
        if abs(product - target) > Fraction(1, 10**6):
            return "Invalid Probability"
    return ""
