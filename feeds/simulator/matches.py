"""The simulated soccer matches: teams, the markets offered, a crude odds model and the results
a final score settles them with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

LIVE, PREMATCH = 1, 3  # the producers a match moves between
TEAMS = (
    "Aurora FC", "Blackwater United", "Cedar Town", "Dunmore Rovers", "Eastfield City", "Fairhaven Athletic",
    "Glenrock", "Harbour Wanderers", "Ironbridge", "Juniper Park", "Kingsmoor", "Lakeside Albion",
    "Millbrook", "Northgate", "Oakham Villa", "Port Rowan", "Queensbury", "Riverside Rangers",
)  # fmt: skip

TWO = Decimal("0.01")


def _odds(probability: float, margin: float = 1.06) -> Decimal:
    value = max(1.01, min(1000.0, 1 / max(probability * margin, 0.001)))
    return Decimal(str(value)).quantize(TWO, rounding=ROUND_HALF_UP)


@dataclass
class SimMarket:
    id: int
    specifiers: str
    outcomes: dict[str, Decimal]
    status: int = 1


@dataclass
class SimEvent:
    urn: str
    home: str
    away: str
    start_at: float  # simulator clock (s)
    producer: int = PREMATCH
    minute: int = 0
    home_score: int = 0
    away_score: int = 0
    half_goals: int = 0
    strength: float = 0.5  # home win propensity
    markets: list[SimMarket] = field(default_factory=list)
    phase: str = "prematch"  # prematch, live, ended
    live_since: float = 0.0
    stopped_until: float = 0.0
    settled_at: float = 0.0
    cancel: tuple[int, int, int, str] | None = None  # (market id, start, end, specifiers) pending rollback

    @property
    def event_id(self) -> int:
        return int(self.urn.rsplit(":", 1)[1])


def price_markets(event: SimEvent) -> list[SimMarket]:
    """Odds from a crude goal model: good enough to look alive, not to bet on."""
    p_home = min(0.8, max(0.1, event.strength + 0.08 * (event.home_score - event.away_score)))
    p_draw = 0.27 if event.home_score == event.away_score else 0.18
    p_away = max(0.05, 1 - p_home - p_draw)
    remaining = max(0.05, (90 - event.minute) / 90)
    goals = event.home_score + event.away_score
    expected = goals + 2.7 * remaining
    jitter = random.uniform(0.97, 1.03)
    markets = [
        SimMarket(1, "", {"1": _odds(p_home * jitter), "2": _odds(p_draw), "3": _odds(p_away / jitter)}),
        SimMarket(10, "", {"9": _odds(p_home + p_draw), "10": _odds(p_home + p_away), "11": _odds(p_draw + p_away)}),
        SimMarket(11, "", {"4": _odds(p_home / (p_home + p_away)), "5": _odds(p_away / (p_home + p_away))}),
        SimMarket(29, "", {"74": _odds(0.55 * remaining + 0.2), "76": _odds(0.8 - 0.55 * remaining)}),
        SimMarket(26, "", {"70": _odds(0.5 * jitter), "72": _odds(0.5 / jitter)}),
    ]
    for line in ("1.5", "2.5", "3.5", "4.5"):
        p_over = min(0.95, max(0.05, 0.5 + (expected - float(line)) / 3))
        status = 1 if goals < float(line) else 0  # a line already over is decided
        markets.append(SimMarket(18, f"total={line}", {"12": _odds(p_over), "13": _odds(1 - p_over)}, status))
    for hcp in ("-1.5", "-0.5", "0.5", "1.5"):
        p = min(0.95, max(0.05, p_home + float(hcp) * 0.18))
        markets.append(SimMarket(16, f"hcp={hcp}", {"1714": _odds(p), "1715": _odds(1 - p)}))
    for hcp in ("0:1", "1:0"):
        p = min(0.9, max(0.05, p_home + (0.15 if hcp == "1:0" else -0.15)))
        markets.append(
            SimMarket(14, f"hcp={hcp}", {"1711": _odds(p), "1712": _odds(0.25), "1713": _odds(max(0.05, 0.75 - p))})
        )
    return markets


def market_results(event: SimEvent, market: SimMarket) -> dict[str, tuple[int, str | None, str | None]]:
    """outcome id -> (result, void_factor, dead_heat_factor) from the final score."""
    h, a = event.home_score, event.away_score
    goals = h + a
    res: dict[str, tuple[int, str | None, str | None]] = {}
    if market.id == 1:
        win = "1" if h > a else ("2" if h == a else "3")
        res = {o: (int(o == win), None, None) for o in market.outcomes}
    elif market.id == 10:
        res = {"9": (int(h >= a), None, None), "10": (int(h != a), None, None), "11": (int(a >= h), None, None)}
    elif market.id == 11:
        if h == a:
            res = {"4": (0, "1", None), "5": (0, "1", None)}  # draw: stakes returned
        else:
            res = {"4": (int(h > a), None, None), "5": (int(a > h), None, None)}
    elif market.id == 29:
        res = {"74": (int(h > 0 and a > 0), None, None), "76": (int(not (h > 0 and a > 0)), None, None)}
    elif market.id == 26:
        res = {"70": (goals % 2, None, None), "72": (1 - goals % 2, None, None)}
    elif market.id == 18:
        line = float(market.specifiers.split("=")[1])
        res = {"12": (int(goals > line), None, None), "13": (int(goals < line), None, None)}
    elif market.id == 16:
        hcp = float(market.specifiers.split("=")[1])
        res = {"1714": (int(h + hcp > a), None, None), "1715": (int(h + hcp < a), None, None)}
    elif market.id == 14:
        ha, aa = (int(x) for x in market.specifiers.split("=")[1].split(":"))
        hh, hw = h + ha, a + aa
        win = "1711" if hh > hw else ("1712" if hh == hw else "1713")
        res = {o: (int(o == win), None, None) for o in market.outcomes}
    return res
