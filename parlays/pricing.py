"""Parlay pricing: pure functions, no database, no network, no clock of their own.

Per leg, a fair probability from the UOF book with a de-vig method (parlays/devig.py: power or
Shin, proportional as the fallback), only from a market that is active, whose producer is up
and whose odds are fresh. Cross-game legs multiply; same-game legs use a correlation factor
table or are declined. The margin is folded into each leg, so the `estimated_price` legs
reproduce the parlay price the way ProphetX re-derives it (docs/prophetx.md §8):

    offer.odds == floor(american(prod(decimal(estimated_price_i))))

Probabilities are modelled in binary floating point (de-vig needs non-integer powers and root
finding; they are a model, not money). Everything ProphetX checks for consistency (American
prices, their product, the confirmation probabilities) is computed exactly with Fraction and
Decimal. Money (max_risk) stays Decimal.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

from parlays.conf import LadderRung, ParlaySettings
from parlays.devig import DevigError, devig
from parlays.prices import MarketQuoteLike
from parlays.protocol import odds as am
from parlays.protocol.render import LegPrice, LegProbability, Offer, PriceProbability

MARKET_ACTIVE = 1
NS = 1_000_000_000
MIN_VALID_AHEAD_NS = 5 * NS  # ProphetX refuses valid_until less than 5 s ahead


# --- inputs and outputs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegSpec:
    """A ProphetX line resolved to the UOF outcome that prices it."""

    line_id: str
    event_urn: str
    market_id: int
    specifiers: str
    outcome_id: str
    correlation_class: str = ""

    @property
    def market_key(self) -> tuple[str, int, str]:
        return (self.event_urn, self.market_id, self.specifiers)

    @property
    def outcome_key(self) -> str:
        return f"{self.event_urn}/{self.market_id}/{self.specifiers}/{self.outcome_id}"


@dataclass(frozen=True, slots=True)
class CorrelationRule:
    """M = P(A and B) / (P(A) P(B)) for two leg classes in the same game; blocked pairs never price."""

    factor: Decimal
    blocked: bool = False


CorrelationTable = Mapping[tuple[str, str], CorrelationRule]


def correlation_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True, slots=True)
class PricingParams:
    devig_method: str = "power"
    margin_per_leg: Decimal = Decimal("0.015")
    ladder: tuple[LadderRung, ...] = (LadderRung(Decimal("200"), Decimal("0")),)
    min_legs: int = 2
    max_legs: int = 12
    max_parlay_odds: int = 25000
    max_leg_probability: Decimal = Decimal("0.97")
    min_leg_probability: Decimal = Decimal("0.01")
    odds_max_age_s: int = 600
    live_odds_max_age_s: int = 15
    live_producers: tuple[int, ...] = (1,)
    valid_for_s: int = 30
    probability_dp: int = 6
    min_bettor_stake: Decimal = Decimal("1")

    @classmethod
    def from_settings(cls, s: ParlaySettings) -> PricingParams:
        # Every pricing parameter is a ParlaySettings field of the same name.
        return cls(**{f.name: getattr(s, f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True, slots=True)
class PricedLeg:
    spec: LegSpec
    book_odds: Decimal  # the UOF decimal price of this outcome
    fair_probability: float  # de-vigged, before correlation
    correlated_probability: float  # with this leg's share of its game's correlation factor
    devig_method: str
    producer_id: int
    odds_updated_at: datetime


@dataclass(frozen=True, slots=True)
class PricedOffer:
    rung: int
    odds: int  # bettor side, >= +100
    max_risk: Decimal
    valid_until_ns: int
    leg_odds: tuple[int, ...]  # bettor-side estimated price per leg
    margin_per_leg: Decimal

    @property
    def decimal_odds(self) -> Fraction:
        return am.to_decimal(self.odds)

    def to_offer(self, line_ids: Sequence[str]) -> Offer:
        return Offer(
            odds=self.odds,
            max_risk=self.max_risk,
            valid_until_ns=self.valid_until_ns,
            estimated_price=tuple(LegPrice(line_id, leg) for line_id, leg in zip(line_ids, self.leg_odds, strict=True)),
        )


@dataclass(frozen=True, slots=True)
class ParlayPrice:
    legs: tuple[PricedLeg, ...]
    fair_probability: float  # joint, with correlation
    correlation_factor: float  # product over games; 1.0 for independent legs
    same_game: bool
    offers: tuple[PricedOffer, ...]

    @property
    def line_ids(self) -> tuple[str, ...]:
        return tuple(leg.spec.line_id for leg in self.legs)


def shares_a_game(event_ids: Sequence[object]) -> bool:
    """True when two or more legs are on one match, whether or not the parlay gets a price."""
    return len(set(event_ids)) < len(event_ids)


@dataclass(frozen=True, slots=True)
class Declined:
    reason: str
    detail: str = ""
    line_id: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


# --- the parlay ----------------------------------------------------------------------------------


def check_quote(spec: LegSpec, quote: MarketQuoteLike | None, params: PricingParams, now: datetime) -> Declined | None:
    """The pricing-safety rules for one leg: a decline, or None when the market can be trusted."""
    if quote is None:
        return Declined(
            "no_price", f"no UOF market {spec.market_id} [{spec.specifiers}] on {spec.event_urn}", spec.line_id
        )
    if quote.status != MARKET_ACTIVE:
        return Declined("market_not_active", f"market {spec.market_id} status {quote.status}", spec.line_id)
    if not quote.producer_up:
        return Declined("producer_down", f"producer {quote.producer_id} is down or recovering", spec.line_id)
    fresh = getattr(quote, "fresh", None)
    if fresh is not None:
        # The feed knows: the producer has been up without interruption since these odds came
        # (Betradar re-sends a line only when it moves, so age alone would decline quiet
        # prematch lines whose odds are current). Its optional maximum age is UOF_ODDS_MAX_AGE.
        if not fresh:
            return Declined("stale_odds", getattr(quote, "stale_reason", "") or "odds not current", spec.line_id)
    else:
        # A source that cannot tell (tests, the simulator): an age limit.
        max_age = params.live_odds_max_age_s if quote.producer_id in params.live_producers else params.odds_max_age_s
        age = (now - quote.odds_updated_at).total_seconds()
        if age > max_age:
            return Declined("stale_odds", f"odds are {age:.1f}s old (max {max_age}s)", spec.line_id)
    if spec.outcome_id not in quote.outcomes:
        return Declined("outcome_not_active", f"outcome {spec.outcome_id} is not offered", spec.line_id)
    return None


@functools.lru_cache(maxsize=8192)
def _devig_cached(book: tuple[float, ...], method: str) -> tuple[tuple[float, ...], str]:
    # Many RFQs share the same markets at the same prices: de-vig each book once.
    fair, used = devig(book, method)
    return tuple(fair), used


def price_leg(spec: LegSpec, quote: MarketQuoteLike, params: PricingParams) -> tuple[float, str] | Declined:
    ids = list(quote.outcomes)
    try:
        book = tuple(float(quote.outcomes[i]) for i in ids)
        fair, method = _devig_cached(book, params.devig_method)
    except DevigError as exc:
        return Declined("impossible_odds", str(exc), spec.line_id)
    p = fair[ids.index(spec.outcome_id)]
    if not float(params.min_leg_probability) <= p <= float(params.max_leg_probability):
        return Declined("leg_out_of_range", f"fair probability {p:.4f} is outside our range", spec.line_id)
    return p, method


def _same_game_factor(group: Sequence[LegSpec], correlations: CorrelationTable) -> float | Declined:
    factor = 1.0
    for i, a in enumerate(group):
        for b in group[i + 1 :]:
            if not a.correlation_class or not b.correlation_class:
                line = a.line_id if not a.correlation_class else b.line_id
                return Declined("sgp_unknown_correlation", f"no correlation class for a leg of {a.event_urn}", line)
            rule = correlations.get(correlation_key(a.correlation_class, b.correlation_class))
            if rule is None:
                return Declined(
                    "sgp_unknown_correlation",
                    f"no factor for {a.correlation_class} + {b.correlation_class}",
                    b.line_id,
                )
            if rule.blocked:
                return Declined(
                    "sgp_blocked", f"{a.correlation_class} + {b.correlation_class} never combine", b.line_id
                )
            # Clamp M >= 1: a negative correlation would only make the parlay cheaper for the bettor.
            factor *= max(1.0, float(rule.factor))
    return factor


SNAP = 1e-9


def _house_floor(value: float) -> int:
    # A value within float noise of an integer is that integer (1/0.25 is exactly +300);
    # anything else rounds down, toward the house.
    nearest = round(value)
    return nearest if abs(value - nearest) < SNAP else math.floor(value)


def leg_american(probability: float) -> int:
    """The bettor-side American price of a leg priced at `probability` (margin included), rounded
    so that it never pays more than 1/probability (beyond float noise of 1e-9 of a point).

    Float arithmetic: exact rationals of a float cost several times more on the quote path.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability {probability} is not in (0, 1)")
    positive = 100.0 / probability - 100.0  # 100 (d - 1)
    if positive >= 100.0 - SNAP:
        return max(100, _house_floor(positive))
    value = _house_floor(-100.0 * probability / (1.0 - probability))  # -100 / (d - 1)
    return 100 if value == -100 else value


def price_parlay(
    legs: Sequence[LegSpec],
    quotes: Sequence[MarketQuoteLike | None],
    params: PricingParams,
    *,
    now: datetime,
    now_ns: int,
    correlations: CorrelationTable | None = None,
    risk_cap: Decimal | None = None,
) -> ParlayPrice | Declined:
    """Price a parlay; `quotes[i]` is the UOF market of `legs[i]`; `risk_cap` limits every max_risk."""
    correlations = correlations or {}
    n = len(legs)
    if n < params.min_legs:
        return Declined("too_few_legs", f"{n} legs (min {params.min_legs})")
    if n > params.max_legs:
        return Declined("too_many_legs", f"{n} legs (max {params.max_legs})")
    seen_markets: set[tuple[str, int]] = set()
    for spec in legs:
        # Two legs on one market are exclusive (home and away) or nested (over 2.5 and over 3.5).
        key = (spec.event_urn, spec.market_id)
        if key in seen_markets:
            return Declined(
                "conflicting_legs", f"two legs on market {spec.market_id} of {spec.event_urn}", spec.line_id
            )
        seen_markets.add(key)

    priced: list[tuple[float, str, MarketQuoteLike]] = []
    for spec, quote in zip(legs, quotes, strict=True):
        refused = check_quote(spec, quote, params, now)
        if refused:
            return refused
        assert quote is not None
        result = price_leg(spec, quote, params)
        if isinstance(result, Declined):
            return result
        priced.append((result[0], result[1], quote))

    games: dict[str, list[int]] = {}
    for index, spec in enumerate(legs):
        games.setdefault(spec.event_urn, []).append(index)
    share = [1.0] * n
    total_factor = 1.0
    same_game = False
    for indexes in games.values():
        if len(indexes) < 2:
            continue
        same_game = True
        factor = _same_game_factor([legs[i] for i in indexes], correlations)
        if isinstance(factor, Declined):
            return factor
        fair_product = math.prod(priced[i][0] for i in indexes)
        # The joint probability can never exceed its least likely leg.
        joint = min(fair_product * factor, min(priced[i][0] for i in indexes))
        factor = joint / fair_product
        total_factor *= factor
        for i in indexes:
            share[i] = factor ** (1.0 / len(indexes))

    priced_legs = tuple(
        PricedLeg(
            spec=spec,
            book_odds=quote.outcomes[spec.outcome_id],
            fair_probability=p,
            correlated_probability=p * share[i],
            devig_method=method,
            producer_id=quote.producer_id,
            odds_updated_at=quote.odds_updated_at,
        )
        for i, (spec, (p, method, quote)) in enumerate(zip(legs, priced, strict=True))
    )
    fair = math.prod(leg.correlated_probability for leg in priced_legs)

    valid_until = now_ns + params.valid_for_s * NS
    offers: list[PricedOffer] = []
    first_decline: Declined | None = None
    for rung_index, rung in enumerate(params.ladder):
        offer = _offer(priced_legs, rung_index, rung, params, valid_until, risk_cap)
        if isinstance(offer, Declined):
            first_decline = first_decline or offer
            continue
        if offers:
            previous = offers[-1]
            if offer.max_risk <= previous.max_risk:
                continue  # a worse price for no more size (the risk cap flattened the ladder)
            if offer.odds >= previous.odds:
                # Rounding gave the bigger size the same price: one offer covers both.
                offers[-1] = dataclasses.replace(previous, rung=offer.rung, max_risk=offer.max_risk)
                continue
        offers.append(offer)
    if not offers:
        return first_decline or Declined("no_offer", "no ladder rung could be offered")
    return ParlayPrice(
        legs=priced_legs,
        fair_probability=fair,
        correlation_factor=total_factor,
        same_game=same_game,
        offers=tuple(offers),
    )


def _offer(
    legs: Sequence[PricedLeg],
    rung_index: int,
    rung: LadderRung,
    params: PricingParams,
    valid_until_ns: int,
    risk_cap: Decimal | None,
) -> PricedOffer | Declined:
    margin = params.margin_per_leg + rung.extra_margin
    leg_odds = []
    for leg in legs:
        q = leg.correlated_probability * (1.0 + float(margin))
        if q >= 0.999:
            return Declined("leg_out_of_range", f"leg priced at probability {q:.4f}", leg.spec.line_id)
        leg_odds.append(leg_american(q))
    numerator, denominator = am.parlay_ratio(leg_odds)
    if numerator < 2 * denominator:
        # PX mishandles negative bettor-side parlay prices (flips the sign and overpays) [observed].
        return Declined("odds_on_parlay", f"bettor implied probability {denominator / numerator:.3f} is above 50%")
    odds = am.american_from_ratio(numerator, denominator)
    if odds > params.max_parlay_odds:
        return Declined("odds_above_cap", f"+{odds} is above +{params.max_parlay_odds}")
    max_risk = rung.max_risk if risk_cap is None else min(rung.max_risk, risk_cap)
    max_risk = max_risk.quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    min_risk = params.min_bettor_stake * Decimal(odds) / 100  # $1 at +odds wins odds/100
    if max_risk <= 0 or max_risk < min_risk:
        return Declined("exposure_limit", f"max risk {max_risk} is below a minimum stake's win {min_risk}")
    return PricedOffer(rung_index, odds, max_risk, valid_until_ns, tuple(leg_odds), margin)


def price_with_offers(price: ParlayPrice) -> tuple[Offer, ...]:
    return tuple(offer.to_offer(price.line_ids) for offer in price.offers)


# --- consistency, as ProphetX checks it ----------------------------------------------------------


def estimated_prices_consistent(offer_odds: int, leg_odds: Sequence[int]) -> bool:
    """The rule we hold ourselves to (and the simulator enforces): the legs' product, rounded for
    the house, is exactly the offered price."""
    return am.parlay_american(list(leg_odds)) == am.normalise(offer_odds)


def price_probabilities(
    line_ids: Sequence[str], fair: Sequence[float], bettor_odds: int, *, dp: int = 6
) -> tuple[LegProbability, ...]:
    """Leg probabilities whose product is the bettor-side implied probability of `bettor_odds`.

    Fair leg probabilities are scaled geometrically, p_i' = p_i * (target / prod p)^(1/n), rounded
    to `dp` places, and the last leg absorbs the rounding: p_n' = target / prod(p_1'..p_n-1').
    """
    if len(line_ids) != len(fair) or not fair:
        raise ValueError("one fair probability per line")
    target = am.implied_probability(bettor_odds)
    quantum = Decimal(1).scaleb(-dp)
    top = Decimal(1) - quantum
    scale = (float(target) / math.prod(fair)) ** (1.0 / len(fair))
    values: list[Decimal] = []
    product = Fraction(1)
    for p in fair[:-1]:
        value = min(top, max(quantum, Decimal(repr(p * scale)).quantize(quantum, rounding=ROUND_HALF_EVEN)))
        values.append(value)
        product *= Fraction(value)
    last = target / product
    last_decimal = Decimal(last.numerator) / Decimal(last.denominator)
    values.append(min(top, max(quantum, last_decimal.quantize(quantum, rounding=ROUND_HALF_EVEN))))
    return tuple(LegProbability(line_id, value) for line_id, value in zip(line_ids, values, strict=True))


def probability_product(values: Sequence[LegProbability]) -> Fraction:
    return math.prod((Fraction(v.probability) for v in values), start=Fraction(1))


def price_probability_entry(
    line_ids: Sequence[str], fair: Sequence[float], bettor_odds: int, max_risk: Decimal, *, dp: int = 6
) -> PriceProbability:
    return PriceProbability(max_risk=max_risk, lines=price_probabilities(line_ids, fair, bettor_odds, dp=dp))


# --- confirmation ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RungChoice:
    rung: int
    risk: Decimal
    reduced: bool


def choose_rung(offers: Sequence[tuple[int, Decimal]], bettor_odds: int, risk: Decimal | None) -> RungChoice | Declined:
    """Which of our offers (odds, max_risk), smallest size first, a confirmation at `bettor_odds`
    for `risk` falls under. The bettor may get our price or a worse one, never a better one; a
    risk above the rung's max_risk is cut down to it."""
    wanted = am.to_decimal(bettor_odds)
    eligible = [i for i, (odds, _) in enumerate(offers) if am.to_decimal(odds) >= wanted]
    if not eligible:
        return Declined("price_not_offered", f"+{bettor_odds} is better than any price we offered")
    if risk is None:
        index = eligible[0]
        return RungChoice(index, offers[index][1], False)
    for index in eligible:
        if offers[index][1] >= risk:
            return RungChoice(index, risk, False)
    index = max(eligible, key=lambda i: offers[i][1])
    return RungChoice(index, offers[index][1], True)


def within_tolerance(bettor_odds: int, current_odds: int, tolerance: Decimal) -> bool:
    """The confirmed price pays at most `tolerance` (relative, in decimal odds) more than ours now."""
    return am.to_decimal(bettor_odds) <= am.to_decimal(current_odds) * (1 + Fraction(tolerance))


def bettor_stake_for(risk: Decimal, bettor_odds: int) -> Decimal:
    """What the bettor stakes for us to risk `risk` at `bettor_odds` (risk = stake * (decimal - 1)).

    Half-up, as every other ProphetX amount is rounded (docs/prophetx.md) and as the simulator
    rounds its settlement profit: half-even here made a stake that fell on half a cent disagree
    with the won/lost figure PX sends by 0.01.
    """
    stake = Fraction(risk) / (am.to_decimal(bettor_odds) - 1)
    return (Decimal(stake.numerator) / Decimal(stake.denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
