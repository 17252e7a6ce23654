"""American odds arithmetic, exact.

ProphetX speaks American integers. Conversions go through `Fraction` so that the consistency
rules ProphetX checks (the product of leg prices reproduces the parlay price; the product of leg
probabilities equals the implied probability) can be computed without rounding noise.

Sign conventions (docs/prophetx.md §7):
- offers and `estimated_price` are bettor-side;
- `price.confirm.new.odds`, `confirmed_odds` and `order.finalized.odds` are SP-side: the
  bettor's price negated (+800 offered -> -800);
- +100 and -100 are the same price (evens).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from parlays.protocol.errors import InvalidOdds

# Beyond this an American price is a bug upstream, not a longshot.
MAX_ABS_AMERICAN = 10_000_000


def check_american(value: object, *, field: str = "odds") -> int:
    """An American price as an int: |A| >= 100. Integral Decimals are accepted (188.0)."""
    if isinstance(value, bool) or value is None:
        raise InvalidOdds(f"{field} must be an integer American price, got {value!r}", field=field)
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise InvalidOdds(f"{field} must be an integer American price, got {value}", field=field)
        value = int(value)
    if not isinstance(value, int):
        raise InvalidOdds(f"{field} must be an integer American price, got {type(value).__name__}", field=field)
    if abs(value) < 100:
        raise InvalidOdds(f"{field} {value} is not an American price (|odds| must be >= 100)", field=field)
    if abs(value) > MAX_ABS_AMERICAN:
        raise InvalidOdds(f"{field} {value} is out of range", field=field)
    return value


def normalise(american: int) -> int:
    """Evens has two spellings; -100 becomes +100 so prices compare equal."""
    return 100 if american == -100 else american


def to_decimal(american: int) -> Fraction:
    """+A -> 1 + A/100; -A -> 1 + 100/A."""
    american = check_american(american)
    if american > 0:
        return 1 + Fraction(american, 100)
    return 1 + Fraction(100, -american)


def implied_probability(american: int) -> Fraction:
    """+A -> 100/(A+100); -A -> A/(A+100). Equals 1/to_decimal(A)."""
    american = check_american(american)
    if american > 0:
        return Fraction(100, american + 100)
    return Fraction(-american, -american + 100)


def from_decimal(decimal_odds: Fraction | Decimal, *, round_for_house: bool = True) -> int:
    """Decimal odds -> American integer.

    With `round_for_house` the result never pays the bettor more than `decimal_odds`: both
    +A (d >= 2) and -A (d < 2) round toward minus infinity (+264.9 -> +264; -111.1 -> -112).
    Otherwise it rounds to the nearest price.
    """
    d = Fraction(decimal_odds)
    if d <= 1:
        raise InvalidOdds(f"decimal odds {float(d):.6f} are not above 1")
    if d >= 2:
        raw = 100 * (d - 1)
    else:
        raw = -100 / (d - 1)
    value = math.floor(raw) if round_for_house else _round_half_away(raw)
    if value == -100:
        value = 100
    return value


def _round_half_away(value: Fraction) -> int:
    floor = math.floor(value)
    return floor + 1 if value - floor >= Fraction(1, 2) else floor


def bettor_to_sp(bettor: int) -> int:
    """The SP-side spelling of a bettor price: its negation (evens stay evens)."""
    return normalise(-check_american(bettor))


def sp_to_bettor(sp: int) -> int:
    return normalise(-check_american(sp))


def parlay_ratio(legs_american: list[int] | tuple[int, ...]) -> tuple[int, int]:
    """The legs' product of decimal odds as an exact integer ratio (numerator, denominator).

    +A is (100 + A)/100 and -A is (A + 100)/A; plain integer products are exact and much
    faster than Fraction on the quote path.
    """
    numerator, denominator = 1, 1
    for leg in legs_american:
        leg = check_american(leg)
        if leg > 0:
            numerator *= 100 + leg
            denominator *= 100
        else:
            numerator *= 100 - leg
            denominator *= -leg
    return numerator, denominator


def parlay_decimal(legs_american: list[int] | tuple[int, ...]) -> Fraction:
    """Product of the legs' decimal odds: how ProphetX re-derives a parlay from estimated prices."""
    numerator, denominator = parlay_ratio(legs_american)
    return Fraction(numerator, denominator)


def american_from_ratio(numerator: int, denominator: int) -> int:
    """from_decimal(numerator/denominator) with integers only (rounded for the house)."""
    if numerator <= denominator:
        raise InvalidOdds("decimal odds are not above 1")
    profit = numerator - denominator  # (d - 1) * denominator
    if numerator >= 2 * denominator:
        return (100 * profit) // denominator  # floor(100 (d - 1))
    value = -((100 * denominator + profit - 1) // profit)  # floor(-100 / (d - 1))
    return 100 if value == -100 else value


def parlay_american(legs_american: list[int] | tuple[int, ...]) -> int:
    """The parlay price the legs reproduce, rounded for the house (decision: see docs/prophetx.md)."""
    return american_from_ratio(*parlay_ratio(legs_american))
