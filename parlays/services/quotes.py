"""Answering price.ask.new: price, send the offers, then record everything.

The RFQ window is a few seconds and ties go to the first arrival, so the offer is sent before any
bookkeeping: mapping, prices and exposure are read from memory (LineIndex, the price source,
ExposureView), and the database is written only after the POST. If the process dies between the
two, a later confirmation finds no quote and is rejected (fail closed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

from parlays.conf import ParlaySettings
from parlays.models import InboundMessage, QuoteLeg, QuoteOffer, QuoteRequest
from parlays.prices import MarketQuoteLike, PriceSource
from parlays.pricing import Declined, LegSpec, ParlayPrice, PricingParams, price_parlay, price_with_offers
from parlays.protocol import render
from parlays.protocol.errors import ProphetXAPIError
from parlays.protocol.messages import PRICE_ASK, PriceAsk
from parlays.protocol.rest import CallbackResult
from parlays.services.exposure import ExposureView, LegKeys
from parlays.services.inbound import message_row
from parlays.services.lines import LineIndex

logger = logging.getLogger("touchline.parlays.quotes")

QUOTE_LATENCY = Histogram(
    "touchline_parlays_quote_latency_seconds",
    "price.ask.new frame received to offer POST sent",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
)
QUOTES = Counter("touchline_parlays_quotes_total", "price.ask.new outcomes", ["outcome"])
P18 = Decimal("1e-18")


class CallbackPoster(Protocol):
    def post_callback(self, url: str, body: bytes) -> CallbackResult: ...


@dataclass(frozen=True, slots=True)
class QuoteOutcome:
    parlay_id: str
    status: str
    reason: str = ""
    latency_ns: int | None = None
    offers: tuple[render.Offer, ...] = ()


class LatencyLog:
    """The last N quote latencies (ns), for the benchmark and the admin's listener page."""

    def __init__(self, size: int = 100_000) -> None:
        self.values: deque[int] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value: int) -> None:
        with self._lock:
            self.values.append(value)

    def snapshot(self) -> list[int]:
        with self._lock:
            return list(self.values)

    def clear(self) -> None:
        with self._lock:
            self.values.clear()


LATENCIES = LatencyLog()


def _fraction_decimal(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(P18)


class QuoteEngine:
    def __init__(
        self,
        *,
        settings: ParlaySettings,
        price_source: PriceSource,
        poster: CallbackPoster,
        line_index: LineIndex | None = None,
        exposure: ExposureView | None = None,
    ) -> None:
        self.settings = settings
        self.params = PricingParams.from_settings(settings)
        self.price_source = price_source
        self.poster = poster
        self.line_index = line_index or LineIndex()
        self.exposure = exposure or ExposureView(settings)

    # --- pricing (memory only) -------------------------------------------------------------

    def price(self, ask: PriceAsk) -> tuple[list[LegSpec | None], list[MarketQuoteLike | None], ParlayPrice | Declined]:
        specs = self.line_index.resolve(ask.market_lines)
        quotes: list[MarketQuoteLike | None] = [None] * len(specs)
        for index, spec in enumerate(specs):
            if spec is None:
                line = ask.market_lines[index]
                return specs, quotes, Declined("unmapped_line", f"line {line.line_id} has no UOF mapping", line.line_id)
        resolved: list[LegSpec] = [s for s in specs if s is not None]
        cache: dict[tuple[str, int, str], MarketQuoteLike | None] = {}
        for index, spec in enumerate(resolved):
            if spec.market_key not in cache:
                cache[spec.market_key] = self.price_source.market_quote(
                    event_urn=spec.event_urn, market_id=spec.market_id, specifiers=spec.specifiers
                )
            quotes[index] = cache[spec.market_key]
        risk_cap = self.exposure.risk_cap(LegKeys(s.event_urn, s.outcome_key) for s in resolved)
        decision = price_parlay(
            resolved,
            quotes,
            self.params,
            now=timezone.now(),
            now_ns=time.time_ns(),
            correlations=self.line_index.correlations,
            risk_cap=risk_cap,
        )
        return specs, quotes, decision

    # --- the RFQ ---------------------------------------------------------------------------

    def handle_ask(
        self, ask: PriceAsk, *, received_ns: int, received_at: datetime, raw: str = "", channel: str = ""
    ) -> QuoteOutcome:
        try:
            specs, _, decision = self.price(ask)
        except Exception as exc:  # a pricing bug must cost one RFQ, never the listener
            logger.exception("pricing failed for %s", ask.parlay_id)
            specs = [None] * len(ask.market_lines)
            decision = Declined("internal_error", type(exc).__name__)
        result: CallbackResult | None = None
        error = ""
        latency = None
        offers: tuple[render.Offer, ...] = ()
        if isinstance(decision, ParlayPrice):
            offers = price_with_offers(decision)
            body = render.offers_body(ask.parlay_id, offers, vocabulary=self.settings.vocabulary)
            latency = time.perf_counter_ns() - received_ns
            try:
                result = self.poster.post_callback(ask.callback_url, body)
            except ProphetXAPIError as exc:
                error = str(exc)
            QUOTE_LATENCY.observe(latency / 1e9)
            LATENCIES.add(latency)
        outcome = self._record(ask, specs, decision, result, error, latency, received_at, raw, channel)
        QUOTES.labels(outcome.status if outcome.status != QuoteRequest.Status.DECLINED else outcome.reason).inc()
        try:
            self.line_index.flush_pending()
        except Exception:
            logger.exception("could not store automatic line mappings")
        return QuoteOutcome(ask.parlay_id, outcome.status, outcome.reason, latency, offers)

    def _record(
        self,
        ask: PriceAsk,
        specs: Sequence[LegSpec | None],
        decision: ParlayPrice | Declined,
        result: CallbackResult | None,
        error: str,
        latency: int | None,
        received_at: datetime,
        raw: str,
        channel: str,
    ) -> QuoteOutcome:
        if isinstance(decision, Declined):
            status, reason, detail = QuoteRequest.Status.DECLINED, decision.reason, decision.detail
        elif result is None:
            status, reason, detail = QuoteRequest.Status.POST_FAILED, "network_error", error
        elif not result.ok:
            status, reason, detail = QuoteRequest.Status.REFUSED, f"http_{result.status}", result.body
        else:
            status, reason, detail = QuoteRequest.Status.QUOTED, "", ""
        priced = decision if isinstance(decision, ParlayPrice) else None
        message = message_row(
            topic=PRICE_ASK,
            channel=channel,
            body=raw,
            status=InboundMessage.Status.PROCESSED,
            received_at=received_at,
            parlay_id=ask.parlay_id,
        )
        try:
            with transaction.atomic():
                request = QuoteRequest.objects.create(
                    parlay_id=ask.parlay_id,
                    stake=ask.stake,
                    callback_url=ask.callback_url,
                    created_at_ns=ask.created_at_ns,
                    received_at=received_at,
                    leg_count=len(ask.market_lines),
                    same_game=bool(priced and priced.same_game),
                    status=status,
                    decline_reason=reason[:64],
                    decline_detail=detail[:255],
                    fair_probability=_fraction_decimal(priced.fair_probability) if priced else None,
                    correlation_factor=Decimal(repr(priced.correlation_factor)).quantize(Decimal("1e-8"))
                    if priced
                    else None,
                    post_status=result.status if result else None,
                    post_response=(result.body if result else error)[:4000],
                    latency_us=None if latency is None else latency // 1000,
                    creator_id=ask.creator_id,
                )
                legs = []
                for position, line in enumerate(ask.market_lines):
                    spec = specs[position] if position < len(specs) else None
                    leg = priced.legs[position] if priced else None
                    legs.append(
                        QuoteLeg(
                            request=request,
                            position=position,
                            line_id=line.line_id,
                            sport_event_id=line.sport_event_id,
                            px_market_id=line.market_id,
                            px_outcome_id=line.outcome_id,
                            px_line=line.line,
                            event_urn=spec.event_urn if spec else "",
                            market_id=spec.market_id if spec else None,
                            specifiers=spec.specifiers if spec else "",
                            outcome_id=spec.outcome_id if spec else "",
                            correlation_class=spec.correlation_class if spec else "",
                            book_odds=leg.book_odds if leg else None,
                            fair_probability=_fraction_decimal(leg.correlated_probability) if leg else None,
                            odds_updated_at=leg.odds_updated_at if leg else None,
                        )
                    )
                QuoteLeg.objects.bulk_create(legs)
                if priced:
                    QuoteOffer.objects.bulk_create(
                        [
                            QuoteOffer(
                                request=request,
                                rung=offer.rung,
                                odds=offer.odds,
                                max_risk=offer.max_risk,
                                valid_until_ns=offer.valid_until_ns,
                                estimated_price=list(offer.leg_odds),
                                margin_per_leg=offer.margin_per_leg,
                            )
                            for offer in priced.offers
                        ]
                    )
                message.save()
        except IntegrityError:
            # Another process already recorded this parlay (a duplicate delivered to two listeners).
            message.status = InboundMessage.Status.DUPLICATE
            message.error = "parlay_id already recorded"
            with transaction.atomic():
                message.save()
            return QuoteOutcome(ask.parlay_id, "duplicate", "duplicate")
        return QuoteOutcome(ask.parlay_id, status, reason)


def legs_payload(ask: PriceAsk) -> list[dict[str, Any]]:
    return [
        {
            "line_id": line.line_id,
            "market_id": line.market_id,
            "outcome_id": line.outcome_id,
            "sport_event_id": line.sport_event_id,
            "line": None if line.line is None else str(line.line),
        }
        for line in ask.market_lines
    ]
