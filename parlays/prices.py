"""Where leg prices come from: the Betradar UOF feed state, behind a small protocol.

The feeds app provides `feeds.selectors.market_quote(...) -> MarketQuote | None` (contract in
docs/prophetx.md). Parlays depends only on the shape below, so it runs, and declines every RFQ
for lack of prices, before feeds is installed, and tests inject a `StaticPriceSource`.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

logger = logging.getLogger("touchline.parlays.prices")


@runtime_checkable
class MarketQuoteLike(Protocol):
    """The fields of feeds.selectors.MarketQuote that pricing reads."""

    event_urn: str
    market_id: int
    specifiers: str
    status: int
    producer_id: int
    producer_up: bool
    odds_updated_at: datetime
    outcomes: dict[str, Decimal]


@dataclass(frozen=True)
class MarketQuote:
    """A local twin of feeds.selectors.MarketQuote (same fields) for tests and the simulator."""

    event_urn: str
    market_id: int
    specifiers: str
    status: int
    producer_id: int
    producer_up: bool
    odds_updated_at: datetime
    outcomes: dict[str, Decimal] = field(default_factory=dict)


class PriceSource(Protocol):
    def market_quote(self, *, event_urn: str, market_id: int, specifiers: str = "") -> MarketQuoteLike | None: ...


def canonical_specifiers(raw: str) -> str:
    """'total=2.5|hcp=1' -> 'hcp=1|total=2.5'. Same rule as feeds.selectors.canonical_specifiers."""
    if not raw:
        return ""
    pairs = []
    for part in raw.split("|"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"specifier {part!r} is not key=value")
        pairs.append((key.strip(), value.strip()))
    return "|".join(f"{k}={v}" for k, v in sorted(pairs))


class FeedsPriceSource:
    """Reads feeds.selectors at call time. Missing feeds app (ImportError) means "no price".

    A failed import is remembered for a minute so the hot path does not rescan sys.path per leg.
    """

    retry_after_s = 60.0

    def __init__(self) -> None:
        self._selector: Callable[..., MarketQuoteLike | None] | None = None
        self._failed_at = 0.0
        self._lock = threading.Lock()

    def _load(self) -> Callable[..., MarketQuoteLike | None] | None:
        if self._selector is not None:
            return self._selector
        now = time.monotonic()
        if self._failed_at and now - self._failed_at < self.retry_after_s:
            return None
        with self._lock:
            try:
                module = importlib.import_module("feeds.selectors")
                self._selector = module.market_quote
            except (ImportError, AttributeError):
                if not self._failed_at:
                    logger.warning("feeds.selectors.market_quote is not available: every leg has no price")
                self._failed_at = now
                return None
        return self._selector

    def market_quote(self, *, event_urn: str, market_id: int, specifiers: str = "") -> MarketQuoteLike | None:
        selector = self._load()
        if selector is None:
            return None
        return selector(event_urn=event_urn, market_id=market_id, specifiers=specifiers)


class StaticPriceSource:
    """An in-memory price book keyed by (event_urn, market_id, specifiers). Thread-safe."""

    def __init__(self, quotes: Iterable[MarketQuoteLike] = ()) -> None:
        self._quotes: dict[tuple[str, int, str], MarketQuoteLike] = {}
        self._lock = threading.Lock()
        for quote in quotes:
            self.put(quote)

    def put(self, quote: MarketQuoteLike) -> None:
        with self._lock:
            self._quotes[(quote.event_urn, quote.market_id, canonical_specifiers(quote.specifiers))] = quote

    def remove(self, *, event_urn: str, market_id: int, specifiers: str = "") -> None:
        with self._lock:
            self._quotes.pop((event_urn, market_id, canonical_specifiers(specifiers)), None)

    def all(self) -> list[MarketQuoteLike]:
        with self._lock:
            return list(self._quotes.values())

    def market_quote(self, *, event_urn: str, market_id: int, specifiers: str = "") -> MarketQuoteLike | None:
        return self._quotes.get((event_urn, market_id, canonical_specifiers(specifiers)))


class ChainPriceSource:
    """The first source that knows the market wins (demo: feeds first, then the simulator's book)."""

    def __init__(self, *sources: PriceSource) -> None:
        self.sources = sources

    def market_quote(self, *, event_urn: str, market_id: int, specifiers: str = "") -> MarketQuoteLike | None:
        for source in self.sources:
            quote = source.market_quote(event_urn=event_urn, market_id=market_id, specifiers=specifiers)
            if quote is not None:
                return quote
        return None


def default_source(dotted: str = "") -> PriceSource:
    """The configured source (PROPHETX_PRICE_SOURCE, a dotted path to a class or factory)."""
    if not dotted:
        from parlays import conf

        dotted = conf.get().price_source
    module_name, _, attr = dotted.rpartition(".")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory()
