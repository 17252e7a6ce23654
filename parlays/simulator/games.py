"""The simulated basketball games: moneyline, total and spread markets with two-way prices, and
the same games as the UOF feed state a listener prices from (`SimPriceSource`)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from parlays.prices import MarketQuote

TEAMS = [
    "Lakers", "Celtics", "Bulls", "Knicks", "Heat", "Suns", "Bucks", "Nuggets", "Warriors", "Spurs",
    "Rockets", "Hawks", "Nets", "Magic", "Kings", "Jazz", "Pistons", "Pacers", "Raptors", "Clippers",
    "Hornets", "Wizards", "Thunder", "Grizzlies",
]  # fmt: skip


def _line_id(*parts: Any) -> str:
    return hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()


@dataclass
class SimOutcome:
    outcome_id: int
    name: str
    odds: Decimal  # UOF decimal odds
    line: Decimal | None  # the line as ProphetX shows it for this selection
    line_id: str = ""


@dataclass
class SimMarket:
    market_id: int  # ProphetX and UOF share the id
    name: str
    type: str
    specifiers: str
    outcomes: list[SimOutcome]
    status: int = 1


@dataclass
class SimGame:
    px_event_id: int
    event_urn: str
    home: str
    away: str
    tournament_id: int
    scheduled: datetime
    markets: list[SimMarket] = field(default_factory=list)
    producer_id: int = 3
    producer_up: bool = True
    stale_by_s: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.away} at {self.home}"


def _two_way(p: float, vig: float = 0.045) -> tuple[Decimal, Decimal]:
    """Decimal odds for a two-way market at fair probability p with a proportional vig."""
    a = Decimal(1 / (p * (1 + vig))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    b = Decimal(1 / ((1 - p) * (1 + vig))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return a, b


def make_games(count: int = 12, *, seed: int = 7, tournament_id: int = 501) -> list[SimGame]:
    rng = random.Random(seed)
    games = []
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)
    teams = TEAMS[:]
    for index in range(count):
        home, away = teams[(2 * index) % len(teams)], teams[(2 * index + 1) % len(teams)]
        event_id = 30_000_000 + index
        urn = f"sr:match:{50_000_000 + index}"
        p_home = rng.uniform(0.3, 0.72)
        total = Decimal(rng.randrange(2050, 2450, 10)) / 10 + Decimal("0.5")
        hcp = Decimal(rng.randrange(1, 16)) + Decimal("0.5")
        home_odds, away_odds = _two_way(p_home)
        over, under = _two_way(rng.uniform(0.46, 0.54))
        hcp_home, hcp_away = _two_way(rng.uniform(0.47, 0.53))
        game = SimGame(event_id, urn, home, away, tournament_id, start + timedelta(minutes=30 * index))
        game.markets = [
            SimMarket(
                219,
                "Moneyline",
                "moneyline",
                "",
                [SimOutcome(4, home, home_odds, None), SimOutcome(5, away, away_odds, None)],
            ),
            SimMarket(
                225,
                "Total Points",
                "total",
                f"total={total}",
                [SimOutcome(12, f"Over {total}", over, total), SimOutcome(13, f"Under {total}", under, total)],
            ),
            SimMarket(
                223,
                "Spread",
                "spread",
                f"hcp={-hcp}",
                [SimOutcome(1714, f"{home} -{hcp}", hcp_home, -hcp), SimOutcome(1715, f"{away} +{hcp}", hcp_away, hcp)],
            ),
        ]
        for market in game.markets:
            for outcome in market.outcomes:
                outcome.line_id = _line_id(event_id, market.market_id, outcome.outcome_id, outcome.line)
        games.append(game)
    return games


class SimPriceSource:
    """The simulator's games as the UOF feed state (feeds.selectors.market_quote's shape)."""

    def __init__(self, games: Iterable[SimGame]) -> None:
        self._markets = {(g.event_urn, m.market_id, m.specifiers): (g, m) for g in games for m in g.markets}

    def market_quote(self, *, event_urn: str, market_id: int, specifiers: str = "") -> MarketQuote | None:
        found = self._markets.get((event_urn, market_id, specifiers))
        if found is None:
            return None
        game, market = found
        return MarketQuote(
            event_urn=event_urn,
            market_id=market_id,
            specifiers=specifiers,
            status=market.status,
            producer_id=game.producer_id,
            producer_up=game.producer_up,
            odds_updated_at=datetime.now(UTC) - timedelta(seconds=1 + game.stale_by_s),
            outcomes={str(o.outcome_id): o.odds for o in market.outcomes},
        )
