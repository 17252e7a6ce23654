"""American odds and ProphetX's sign conventions (docs/prophetx.md §7)."""

from decimal import Decimal
from fractions import Fraction

import pytest

from parlays.protocol import odds
from parlays.protocol.errors import InvalidOdds


def test_decimal_of_american_prices():
    assert odds.to_decimal(800) == 9  # the docs' offer: +800 = 9.0
    assert odds.to_decimal(200) == 3
    assert odds.to_decimal(-200) == Fraction(3, 2)
    assert odds.to_decimal(100000) == 1001  # the seed's 1000:1 placeholder
    assert odds.to_decimal(-110) == 1 + Fraction(100, 110)


def test_implied_probability_is_one_over_decimal():
    assert odds.implied_probability(800) == Fraction(1, 9)
    assert odds.implied_probability(-800) == Fraction(8, 9)
    assert odds.implied_probability(100) == odds.implied_probability(-100) == Fraction(1, 2)
    for price in (101, 188, -285, 1774, -1774, 25000):
        assert odds.implied_probability(price) == 1 / odds.to_decimal(price)


def test_sp_side_is_the_bettor_price_negated():
    assert odds.bettor_to_sp(1774) == -1774  # +1774 offered -> -1774 on confirm and finalize
    assert odds.bettor_to_sp(100000) == -100000
    assert odds.sp_to_bettor(-800) == 800
    assert odds.bettor_to_sp(100) == 100  # evens stays evens
    assert odds.sp_to_bettor(100) == 100


def test_evens_has_one_spelling():
    assert odds.normalise(-100) == 100
    assert odds.from_decimal(Fraction(2)) == 100


def test_from_decimal_never_pays_the_bettor_more():
    assert odds.from_decimal(Fraction(9)) == 800
    assert odds.from_decimal(Decimal("3.649")) == 264  # +264.9 -> +264
    assert odds.from_decimal(Decimal("1.9")) == -112  # -111.1 -> -112 (pays 0.893 < 0.9)
    assert odds.from_decimal(Decimal("1.9"), round_for_house=False) == -111
    for d in (Decimal("1.01"), Decimal("1.5"), Decimal("2.37"), Decimal("57.3")):
        assert odds.to_decimal(odds.from_decimal(d)) <= Fraction(d)


def test_parlay_of_two_plus_200_legs_is_plus_800():
    assert odds.parlay_decimal([200, 200]) == 9
    assert odds.parlay_american([200, 200]) == 800
    assert odds.parlay_american([-110, -110]) == 264  # 3.6446 -> +264.46, rounded for the house


@pytest.mark.parametrize("bad", [50, -99, 0, 1.9, "200", True, None, Decimal("150.5"), 10**9])
def test_impossible_prices_are_refused(bad):
    with pytest.raises(InvalidOdds):
        odds.check_american(bad)


def test_integral_decimal_is_accepted():
    assert odds.check_american(Decimal("188")) == 188
