"""Pricing with hand-computed expectations (docs/prophetx.md §8, §13)."""

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from parlays.conf import LadderRung
from parlays.devig import devig, devig_power, devig_proportional, devig_shin
from parlays.prices import MarketQuote
from parlays.pricing import (
    CorrelationRule,
    Declined,
    LegSpec,
    ParlayPrice,
    PricingParams,
    bettor_stake_for,
    choose_rung,
    estimated_prices_consistent,
    leg_american,
    price_parlay,
    price_probabilities,
    probability_product,
    within_tolerance,
)
from parlays.protocol import odds as am

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
NOW_NS = int(NOW.timestamp()) * 1_000_000_000
NO_MARGIN = PricingParams(margin_per_leg=Decimal("0"), ladder=(LadderRung(Decimal("200"), Decimal("0")),))


def quote(urn="sr:match:1", market=1, spec="", odds=None, status=1, producer_up=True, age_s=2, producer=3):
    return MarketQuote(
        event_urn=urn,
        market_id=market,
        specifiers=spec,
        status=status,
        producer_id=producer,
        producer_up=producer_up,
        odds_updated_at=NOW - timedelta(seconds=age_s),
        outcomes=odds or {"1": Decimal("2.00"), "2": Decimal("2.00")},
    )


def leg(line, urn="sr:match:1", market=1, outcome="1", spec="", klass=""):
    return LegSpec(line, urn, market, spec, outcome, klass)


def price(legs, quotes, params=NO_MARGIN, **kw):
    return price_parlay(legs, quotes, params, now=NOW, now_ns=NOW_NS, **kw)


# --- de-vig ------------------------------------------------------------------------------------


def test_proportional_takes_the_margin_off_in_proportion():
    # 1.25 and 1.6667: implied 0.8 + 0.6 = 1.4; proportional 0.8/1.4, 0.6/1.4
    p = devig_proportional([1.25, 5 / 3])
    assert p == pytest.approx([4 / 7, 3 / 7])


def test_power_finds_k_with_sum_one():
    # 0.8^2 + 0.6^2 = 1: the power method gives k = 2, so (0.64, 0.36)
    assert devig_power([1.25, 5 / 3]) == pytest.approx([0.64, 0.36], abs=1e-12)


def test_shin_with_two_outcomes_is_additive():
    # Additive: overround 0.4 split equally: (0.8 - 0.2, 0.6 - 0.2)
    assert devig_shin([1.25, 5 / 3]) == pytest.approx([0.6, 0.4], abs=1e-9)


def test_power_takes_more_off_the_longshot_than_proportional():
    book = [1.5, 3.0, 6.0]
    power, proportional = devig_power(book), devig_proportional(book)
    assert sum(power) == pytest.approx(1)
    assert power[2] < proportional[2] and power[0] > proportional[0]


def test_fair_book_is_left_alone():
    assert devig_power([2.0, 2.0]) == pytest.approx([0.5, 0.5])


def test_devig_falls_back_to_proportional():
    # Shin needs an overround; an underround book falls back.
    p, method = devig([2.1, 2.1], "shin")
    assert method == "proportional" and p == pytest.approx([0.5, 0.5])


# --- independent legs ----------------------------------------------------------------------------------


def test_two_evens_legs_without_margin_are_plus_300():
    legs = [leg("a", "sr:match:1"), leg("b", "sr:match:2")]
    result = price(legs, [quote("sr:match:1"), quote("sr:match:2")])
    assert isinstance(result, ParlayPrice)
    assert result.fair_probability == pytest.approx(0.25)
    offer = result.offers[0]
    assert offer.leg_odds == (100, 100) and offer.odds == 300  # 2.0 * 2.0 = 4.0


def test_margin_is_folded_into_each_leg_and_the_legs_reproduce_the_parlay():
    params = replace(NO_MARGIN, margin_per_leg=Decimal("0.02"))
    legs = [leg("a", "sr:match:1"), leg("b", "sr:match:2"), leg("c", "sr:match:3")]
    result = price(legs, [quote(f"sr:match:{i}") for i in (1, 2, 3)], params)
    offer = result.offers[0]
    # Each leg: 0.5 * 1.02 = 0.51 -> decimal 1.96078 -> American -104.08 -> -105 (house side)
    assert offer.leg_odds == (-105, -105, -105)
    # 1.952381^3 = 7.44206 -> +644
    assert offer.odds == am.parlay_american([-105, -105, -105]) == 644
    assert estimated_prices_consistent(offer.odds, offer.leg_odds)
    assert am.to_decimal(offer.odds) <= Fraction(1) / Fraction(0.51**3)


def test_cross_game_legs_multiply_fair_probabilities():
    legs = [leg("a", "sr:match:1"), leg("b", "sr:match:2", outcome="2")]
    lopsided = {"1": Decimal("1.25"), "2": Decimal("4.00")}  # power: p^k solves 0.8^k + 0.25^k = 1
    result = price(legs, [quote("sr:match:1"), quote("sr:match:2", odds=lopsided)])
    p2 = devig_power([1.25, 4.0])[1]
    assert result.fair_probability == pytest.approx(0.5 * p2)


def test_size_ladder_gets_worse_with_size():
    params = replace(
        NO_MARGIN,
        margin_per_leg=Decimal("0.01"),
        ladder=(LadderRung(Decimal("200"), Decimal("0")), LadderRung(Decimal("2000"), Decimal("0.02"))),
    )
    result = price([leg("a", "sr:match:1"), leg("b", "sr:match:2")], [quote("sr:match:1"), quote("sr:match:2")], params)
    small, large = result.offers
    assert (small.max_risk, large.max_risk) == (Decimal("200"), Decimal("2000"))
    assert small.odds > large.odds
    assert small.valid_until_ns - NOW_NS >= 5_000_000_000


def test_risk_cap_limits_max_risk():
    result = price(
        [leg("a", "sr:match:1"), leg("b", "sr:match:2")],
        [quote("sr:match:1"), quote("sr:match:2")],
        risk_cap=Decimal("75.5"),
    )
    assert result.offers[0].max_risk == Decimal("75.50")


def test_no_headroom_means_no_offer():
    result = price(
        [leg("a", "sr:match:1"), leg("b", "sr:match:2")],
        [quote("sr:match:1"), quote("sr:match:2")],
        risk_cap=Decimal("0"),
    )
    assert isinstance(result, Declined) and result.reason == "exposure_limit"


def test_odds_on_parlays_are_declined():
    # PX flips negative bettor-side parlay prices and overpays: never offer below +100.
    short = {"1": Decimal("1.20"), "2": Decimal("5.50")}
    result = price(
        [leg("a", "sr:match:1"), leg("b", "sr:match:2")],
        [quote("sr:match:1", odds=short), quote("sr:match:2", odds=short)],
    )
    assert isinstance(result, Declined) and result.reason == "odds_on_parlay"


def test_parlays_above_the_cap_are_declined():
    params = replace(NO_MARGIN, max_parlay_odds=2000, min_leg_probability=Decimal("0.001"))
    longshot = {"1": Decimal("15"), "2": Decimal("1.07")}
    legs = [leg(c, f"sr:match:{i}") for i, c in enumerate("abc")]
    result = price(legs, [quote(f"sr:match:{i}", odds=longshot) for i in range(3)], params)
    assert isinstance(result, Declined) and result.reason == "odds_above_cap"


# --- pricing safety ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"status": 0}, "market_not_active"),
        ({"status": -1}, "market_not_active"),
        ({"producer_up": False}, "producer_down"),
        ({"age_s": 601}, "stale_odds"),
        ({"age_s": 16, "producer": 1}, "stale_odds"),  # live odds age out faster
        ({"odds": {"2": Decimal("1.9"), "3": Decimal("1.9")}}, "outcome_not_active"),
        ({"odds": {"1": Decimal("1.00"), "2": Decimal("9")}}, "impossible_odds"),
        ({"odds": {"1": Decimal("1.9")}}, "impossible_odds"),
    ],
)
def test_untrusted_markets_are_refused(kwargs, reason):
    legs = [leg("a", "sr:match:1"), leg("b", "sr:match:2")]
    result = price(legs, [quote("sr:match:1"), quote("sr:match:2", **kwargs)])
    assert isinstance(result, Declined)
    assert result.reason == reason and result.line_id == "b"


def test_missing_market_is_no_price():
    result = price([leg("a", "sr:match:1"), leg("b", "sr:match:2")], [quote("sr:match:1"), None])
    assert result.reason == "no_price"


def test_fresh_live_odds_price():
    result = price(
        [leg("a", "sr:match:1"), leg("b", "sr:match:2")],
        [quote("sr:match:1", producer=1, age_s=3), quote("sr:match:2")],
    )
    assert isinstance(result, ParlayPrice)


def test_leg_counts_and_conflicts():
    one = price([leg("a")], [quote()])
    assert one.reason == "too_few_legs"
    many = price([leg(str(i), f"sr:match:{i}") for i in range(13)], [quote(f"sr:match:{i}") for i in range(13)])
    assert many.reason == "too_many_legs"
    both_sides = price([leg("a", outcome="1"), leg("b", outcome="2")], [quote(), quote()])
    assert both_sides.reason == "conflicting_legs"


# --- same game ---------------------------------------------------------------------------------------


def sgp_legs():
    return [
        leg("a", "sr:match:9", market=223, spec="hcp=-1.5", outcome="1714", klass="hcp_home"),
        leg("b", "sr:match:9", market=225, spec="total=8.5", outcome="12", klass="total_over"),
    ]


def sgp_quotes():
    return [
        quote("sr:match:9", market=223, spec="hcp=-1.5", odds={"1714": Decimal("2"), "1715": Decimal("2")}),
        quote("sr:match:9", market=225, spec="total=8.5", odds={"12": Decimal("2"), "13": Decimal("2")}),
    ]


def test_same_game_without_a_factor_is_declined():
    result = price(sgp_legs(), sgp_quotes())
    assert isinstance(result, Declined) and result.reason == "sgp_unknown_correlation"


def test_same_game_uses_the_correlation_factor():
    # MLB favourite run line + over: M = 1.074 -> joint 0.25 * 1.074 = 0.2685
    table = {("hcp_home", "total_over"): CorrelationRule(Decimal("1.074"))}
    result = price(sgp_legs(), sgp_quotes(), correlations=table)
    assert result.same_game
    assert result.fair_probability == pytest.approx(0.2685)
    # The factor is shared between the legs, so the legs still reproduce the price.
    offer = result.offers[0]
    assert estimated_prices_consistent(offer.odds, offer.leg_odds)
    assert am.to_decimal(offer.odds) <= Fraction(1) / Fraction(0.2685)


def test_negative_correlation_is_clamped_to_one():
    table = {("hcp_home", "total_over"): CorrelationRule(Decimal("0.968"))}
    result = price(sgp_legs(), sgp_quotes(), correlations=table)
    assert result.fair_probability == pytest.approx(0.25)


def test_blocked_pairs_never_price():
    table = {("hcp_home", "total_over"): CorrelationRule(Decimal("1"), blocked=True)}
    assert price(sgp_legs(), sgp_quotes(), correlations=table).reason == "sgp_blocked"


def test_joint_probability_never_exceeds_the_least_likely_leg():
    table = {("hcp_home", "total_over"): CorrelationRule(Decimal("5"))}
    quotes = sgp_quotes()
    quotes[0] = replace(quotes[0], outcomes={"1714": Decimal("4"), "1715": Decimal(4) / 3})  # a fair book: 0.25
    result = price(sgp_legs(), quotes, correlations=table)
    # 0.25 * 0.5 * 5 = 0.625 is impossible: both legs together are at most as likely as the 0.25 one.
    assert result.fair_probability == pytest.approx(0.25)


# --- confirmation helpers ----------------------------------------------------------------------------


def test_price_probability_doc_example():
    # Two legs at +200 (1/3 each) confirmed at -800 (SP side) = +800: 0.333333 x 0.333334
    values = price_probabilities(["line_1", "line_2"], [1 / 3, 1 / 3], 800)
    assert [v.probability for v in values] == [Decimal("0.333333"), Decimal("0.333334")]
    assert abs(probability_product(values) - Fraction(1, 9)) < Fraction(1, 10**6)


def test_price_probability_scales_geometrically_and_multiplies_to_the_implied_probability():
    fair = [0.55, 0.48, 0.62, 0.3]
    values = price_probabilities(list("abcd"), fair, 1200)
    target = am.implied_probability(1200)
    scale = (float(target) / math.prod(fair)) ** 0.25
    for value, p in zip(values[:-1], fair[:-1], strict=False):
        assert float(value.probability) == pytest.approx(p * scale, abs=1e-6)
    assert abs(probability_product(values) - target) < Fraction(1, 10**6)


@pytest.mark.parametrize("n", range(2, 13))
def test_price_probability_product_holds_for_every_leg_count(n):
    fair = [0.3 + 0.05 * (i % 7) for i in range(n)]
    bettor = am.from_decimal(Fraction(1) / Fraction(math.prod(fair) * 1.1))
    values = price_probabilities([str(i) for i in range(n)], fair, bettor)
    assert abs(probability_product(values) - am.implied_probability(bettor)) < Fraction(1, 10**6)


def test_leg_american_is_house_rounded():
    assert leg_american(0.5) == 100
    assert leg_american(0.51) == -105
    assert leg_american(0.25) == 300


def test_choose_rung():
    offers = [(500, Decimal("200")), (480, Decimal("1000"))]
    assert choose_rung(offers, 500, Decimal("150")).rung == 0
    assert choose_rung(offers, 480, Decimal("600")).rung == 1
    cut = choose_rung(offers, 500, Decimal("600"))  # +500 only for up to 200: cut down
    assert (cut.rung, cut.risk, cut.reduced) == (0, Decimal("200"), True)
    worse = choose_rung(offers, 450, Decimal("100"))  # the bettor may take less than we offered
    assert worse.rung == 0
    assert choose_rung(offers, 520, Decimal("100")).reason == "price_not_offered"


def test_tolerance():
    assert within_tolerance(500, 500, Decimal("0"))
    assert within_tolerance(500, 490, Decimal("0.02"))  # 6.0 vs 5.9 * 1.02 = 6.018
    assert not within_tolerance(500, 480, Decimal("0.02"))  # 6.0 vs 5.8 * 1.02 = 5.916


def test_bettor_stake():
    assert bettor_stake_for(Decimal("800"), 800) == Decimal("100.00")
    assert bettor_stake_for(Decimal("50"), 493) == Decimal("10.14")
    # 10.01 / 2 = 5.005 lands on half a cent: half-up, as PX's settlement profit is rounded.
    assert bettor_stake_for(Decimal("10.01"), 200) == Decimal("5.01")
    assert bettor_stake_for(Decimal("10.03"), 200) == Decimal("5.02")


def test_leg_american_agrees_with_exact_house_rounding():
    rng = __import__("random").Random(5)
    for _ in range(20000):
        q = rng.uniform(0.011, 0.989)
        exact = am.from_decimal(Fraction(1) / Fraction(q))
        fast = leg_american(q)
        assert fast == exact
        assert am.to_decimal(fast) <= Fraction(1) / Fraction(q) * (1 + Fraction(1, 10**9))


def test_integer_parlay_arithmetic_matches_fractions():
    rng = __import__("random").Random(6)
    for _ in range(5000):
        legs = [rng.choice([1, -1]) * rng.randint(100, 2000) for _ in range(rng.randint(2, 12))]
        legs = [am.normalise(leg) for leg in legs]
        decimal = am.parlay_decimal(legs)
        assert decimal == math.prod(am.to_decimal(leg) for leg in legs)
        if decimal > 1:
            assert am.parlay_american(legs) == am.from_decimal(decimal)
