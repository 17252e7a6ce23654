"""Profile of the quote hot path without network or database: line lookup, feed lookup, de-vig,
exact parlay arithmetic and offer rendering, for RFQs of 2–12 legs.

    python bench/parlays_pricing_profile.py --asks 5000

Prints the mean cost per RFQ by leg count and the top functions by cumulative time (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("TOUCHLINE_DEMO", "true")  # demo secrets, plain HTTP (config/security.py)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--asks", type=int, default=5000)
    parser.add_argument("--top", type=int, default=18)
    args = parser.parse_args()

    import django

    django.setup()
    from datetime import datetime

    from parlays.conf import ParlaySettings
    from parlays.pricing import LegSpec
    from parlays.protocol.messages import MarketLine, PriceAsk
    from parlays.services.exposure import ExposureView
    from parlays.services.lines import LineIndex, derive_mapping
    from parlays.services.quotes import QuoteEngine
    from parlays.simulator import SimPriceSource, make_games

    games = make_games(24, seed=9)
    index = LineIndex(ttl=1e9)
    for game in games:
        for market in game.markets:
            for outcome in market.outcomes:
                market_id, spec, outcome_id, klass = derive_mapping(market.market_id, outcome.outcome_id, outcome.line)
                index._lines[outcome.line_id] = LegSpec(
                    outcome.line_id, game.event_urn, market_id, spec, outcome_id, klass
                )
    index._loaded_at = time.monotonic()
    settings = ParlaySettings()
    view = ExposureView(settings, ttl=1e9)
    view._loaded_at = time.monotonic()

    class NullPoster:
        def post_callback(self, url, body):
            raise AssertionError("not used")

    engine = QuoteEngine(
        settings=settings, price_source=SimPriceSource(games), poster=NullPoster(), line_index=index, exposure=view
    )
    from parlays.pricing import ParlayPrice
    from parlays.protocol import render
    from parlays.services.quotes import price_with_offers

    rng = random.Random(3)
    asks = []
    for n in range(args.asks):
        count = rng.randint(2, 12)
        chosen = rng.sample(games, count)
        lines = []
        for game in chosen:
            market = rng.choice(game.markets)
            outcome = rng.choice(market.outcomes)
            lines.append(
                MarketLine(outcome.line_id, market.market_id, outcome.outcome_id, game.px_event_id, outcome.line)
            )
        asks.append(
            PriceAsk(
                f"00000000-0000-4000-8000-{n:012d}",
                __import__("decimal").Decimal("10"),
                "https://px/cb",
                1,
                tuple(lines),
            )
        )

    def run() -> dict[int, list[int]]:
        costs: dict[int, list[int]] = defaultdict(list)
        for ask in asks:
            started = time.perf_counter_ns()
            _, _, decision = engine.price(ask)
            if isinstance(decision, ParlayPrice):
                render.offers_body(ask.parlay_id, price_with_offers(decision))
            costs[len(ask.market_lines)].append(time.perf_counter_ns() - started)
        return costs

    costs = run()  # warm
    costs = run()
    print(f"{datetime.now():%Y-%m-%d %H:%M} {args.asks} RFQs, price + render, one thread")
    for legs in sorted(costs):
        values = sorted(costs[legs])
        print(
            f"  {legs:2d} legs: mean {sum(values) / len(values) / 1000:7.1f} us  p99 {values[int(len(values) * 0.99)] / 1000:7.1f} us"
        )
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
