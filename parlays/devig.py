"""De-vig: a bookmaker's decimal odds for the outcomes of one market turned into fair
probabilities (the margin taken off), by the power method, Shin's model or proportionally.
Binary floating point: a model, not money (parlays/pricing.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence


class DevigError(ValueError):
    pass


def _implied(decimal_odds: Sequence[float]) -> list[float]:
    if len(decimal_odds) < 2:
        raise DevigError("a market needs at least two priced outcomes")
    implied = []
    for o in decimal_odds:
        if not (o > 1.0) or math.isinf(o) or math.isnan(o):
            raise DevigError(f"decimal odds {o} are not above 1")
        implied.append(1.0 / o)
    return implied


def devig_proportional(decimal_odds: Sequence[float]) -> list[float]:
    """p_i = q_i / sum(q): the book's margin taken off every outcome in proportion."""
    q = _implied(decimal_odds)
    total = sum(q)
    return [x / total for x in q]


def devig_power(decimal_odds: Sequence[float]) -> list[float]:
    """p_i = q_i ** k with k chosen so the p_i sum to 1. Takes more margin off longshots."""
    q = _implied(decimal_odds)
    logs = [math.log(x) for x in q]

    def f(k: float) -> float:
        return sum(math.exp(k * lg) for lg in logs) - 1.0

    total = sum(q)
    if abs(total - 1.0) < 1e-15:
        return list(q)
    lo, hi = 1.0, 1.0
    if total > 1.0:  # f decreases in k: find hi with f(hi) < 0
        hi = 2.0
        while f(hi) > 0:
            hi *= 2
            if hi > 1e6:
                raise DevigError("power method did not bracket")
    else:
        lo = 0.5
        while f(lo) < 0:
            lo /= 2
            if lo < 1e-9:
                raise DevigError("power method did not bracket")
    k = (lo + hi) / 2
    for _ in range(200):
        value = f(k)
        if abs(value) < 1e-14:
            break
        if value > 0:
            lo = k
        else:
            hi = k
        derivative = sum(lg * math.exp(k * lg) for lg in logs)
        step = k - value / derivative if derivative else (lo + hi) / 2
        k = step if lo < step < hi else (lo + hi) / 2  # Newton inside the bracket, else bisect
    else:
        raise DevigError("power method did not converge")
    return [math.exp(k * lg) for lg in logs]


def devig_shin(decimal_odds: Sequence[float]) -> list[float]:
    """Shin's model: the margin as protection against insiders (share z). Solved for z by bisection.

    With two outcomes it coincides with the additive method (equal margin off both sides).
    """
    q = _implied(decimal_odds)
    beta = sum(q)
    if beta <= 1.0:
        raise DevigError("Shin needs an overround")

    def probs(z: float) -> list[float]:
        return [(math.sqrt(z * z + 4 * (1 - z) * x * x / beta) - z) / (2 * (1 - z)) for x in q]

    lo, hi = 0.0, 0.99
    if sum(probs(hi)) - 1.0 > 0:
        raise DevigError("Shin did not bracket")
    for _ in range(200):
        mid = (lo + hi) / 2
        if sum(probs(mid)) - 1.0 > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    p = probs((lo + hi) / 2)
    if any(not (0.0 < x < 1.0) for x in p):
        raise DevigError("Shin gave a probability outside (0, 1)")
    return p


DEVIG = {"power": devig_power, "shin": devig_shin, "proportional": devig_proportional}


def devig(decimal_odds: Sequence[float], method: str = "power") -> tuple[list[float], str]:
    """Fair probabilities and the method actually used (proportional when `method` fails)."""
    function = DEVIG.get(method, devig_power)
    if function is not devig_proportional:
        try:
            p = function(decimal_odds)
            if all(0.0 < x < 1.0 for x in p) and abs(sum(p) - 1.0) < 1e-9:
                return p, method
        except (DevigError, ValueError, ZeroDivisionError, OverflowError):
            pass
    return devig_proportional(decimal_odds), "proportional"
