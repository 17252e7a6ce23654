"""Answering price.ask.new: price, send the offers, then record everything.

The RFQ window is a few seconds and ties go to the first arrival, so the offer is sent before any
bookkeeping: mapping, prices and exposure are read from memory (LineIndex, the price source,
ExposureView), and the database is written only after the POST. If the process dies between the
two, a later confirmation finds no quote and is rejected (fail closed).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

from parlays.conf import ParlaySettings
from parlays.models import InboundMessage, QuoteLeg, QuoteOffer, QuoteRequest
from parlays.prices import MarketQuoteLike, PriceSource
from parlays.pricing import (
    Declined,
    LegSpec,
    ParlayPrice,
    PricingParams,
    price_parlay,
    price_with_offers,
    shares_a_game,
)
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
        self.recorder = QuoteRecorder(self.record_batch)

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
        # Before the offer can reach ProphetX: a confirmation must find this quote pending.
        self.recorder.expect(ask.parlay_id)
        try:
            specs, _, decision = self.price(ask)
        except Exception as exc:  # a pricing bug must cost one RFQ, never the listener
            logger.exception("pricing failed for %s", ask.parlay_id)
            if isinstance(exc, (OperationalError, InterfaceError)):
                connection.close()  # this thread reconnects on its next query
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
        record = QuoteRecord(ask, list(specs), decision, result, error, latency, received_at, raw, channel)
        QUOTES.labels(record.status if record.status != QuoteRequest.Status.DECLINED else record.reason).inc()
        self.recorder.submit(record)
        return QuoteOutcome(ask.parlay_id, record.status, record.reason, latency, offers)

    def wait_recorded(self, parlay_id: str, timeout: float = 2.0) -> None:
        self.recorder.wait(parlay_id, timeout)

    def record_batch(self, records: Sequence[QuoteRecord]) -> None:
        """Write a batch of quotes: four bulk INSERTs and one commit for the whole batch.

        A parlay already recorded (a duplicate delivered to two listeners) is stored as a
        duplicate message. If a concurrent writer wins a race, the batch falls back to one
        savepoint per quote so only the duplicate is affected.
        """
        try:
            with transaction.atomic():
                _save_many(records)
        except IntegrityError:
            with transaction.atomic():
                for record in records:
                    try:
                        with transaction.atomic():
                            _save_many([record])
                    except IntegrityError:
                        _duplicate_message(record).save()
        self.line_index.flush_pending()


@dataclass
class QuoteRecord:
    """Everything about one RFQ, kept in memory until the recorder writes it."""

    ask: PriceAsk
    specs: list[LegSpec | None]
    decision: ParlayPrice | Declined
    result: CallbackResult | None
    error: str
    latency: int | None
    received_at: datetime
    raw: str
    channel: str

    @property
    def status(self) -> str:
        if isinstance(self.decision, Declined):
            return QuoteRequest.Status.DECLINED
        if self.result is None:
            return QuoteRequest.Status.POST_FAILED
        return QuoteRequest.Status.QUOTED if self.result.ok else QuoteRequest.Status.REFUSED

    @property
    def reason(self) -> str:
        if isinstance(self.decision, Declined):
            return self.decision.reason
        if self.result is None:
            return "network_error"
        return "" if self.result.ok else f"http_{self.result.status}"

    @property
    def detail(self) -> str:
        if isinstance(self.decision, Declined):
            return self.decision.detail
        if self.result is None:
            return self.error
        return "" if self.result.ok else self.result.body

    def message(self) -> InboundMessage:
        return message_row(
            topic=PRICE_ASK,
            channel=self.channel,
            body=self.raw,
            status=InboundMessage.Status.PROCESSED,
            received_at=self.received_at,
            parlay_id=self.ask.parlay_id,
        )


def _duplicate_message(record: QuoteRecord) -> InboundMessage:
    message = record.message()
    message.status = InboundMessage.Status.DUPLICATE
    message.error = "parlay_id already recorded"
    return message


def _request_row(record: QuoteRecord) -> QuoteRequest:
    ask, result = record.ask, record.result
    priced = record.decision if isinstance(record.decision, ParlayPrice) else None
    return QuoteRequest(
        parlay_id=ask.parlay_id,
        stake=ask.stake,
        callback_url=ask.callback_url,
        created_at_ns=ask.created_at_ns,
        received_at=record.received_at,
        leg_count=len(ask.market_lines),
        # From the legs, not the price: a parlay declined as sgp_blocked is still same-game.
        same_game=shares_a_game([line.sport_event_id for line in ask.market_lines]),
        status=record.status,
        decline_reason=record.reason[:64],
        decline_detail=record.detail[:255],
        fair_probability=_fraction_decimal(priced.fair_probability) if priced else None,
        correlation_factor=Decimal(repr(priced.correlation_factor)).quantize(Decimal("1e-8")) if priced else None,
        post_status=result.status if result else None,
        post_response=(result.body if result else record.error)[:4000],
        latency_us=None if record.latency is None else record.latency // 1000,
        creator_id=ask.creator_id,
    )


def _child_rows(record: QuoteRecord, request: QuoteRequest) -> tuple[list[QuoteLeg], list[QuoteOffer]]:
    priced = record.decision if isinstance(record.decision, ParlayPrice) else None
    legs = []
    for position, line in enumerate(record.ask.market_lines):
        spec = record.specs[position] if position < len(record.specs) else None
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
    offers = [
        QuoteOffer(
            request=request,
            rung=offer.rung,
            odds=offer.odds,
            max_risk=offer.max_risk,
            valid_until_ns=offer.valid_until_ns,
            estimated_price=list(offer.leg_odds),
            margin_per_leg=offer.margin_per_leg,
        )
        for offer in (priced.offers if priced else ())
    ]
    return legs, offers


def _save_many(records: Sequence[QuoteRecord]) -> None:
    ids = [r.ask.parlay_id for r in records]
    existing = set(QuoteRequest.objects.filter(parlay_id__in=ids).values_list("parlay_id", flat=True))
    fresh: list[QuoteRecord] = []
    messages: list[InboundMessage] = []
    for record in records:
        if record.ask.parlay_id in existing:
            messages.append(_duplicate_message(record))
        else:
            existing.add(record.ask.parlay_id)
            fresh.append(record)
            messages.append(record.message())
    # PostgreSQL and SQLite >= 3.35 return the new ids from a bulk INSERT.
    requests = QuoteRequest.objects.bulk_create([_request_row(r) for r in fresh])
    legs: list[QuoteLeg] = []
    offers: list[QuoteOffer] = []
    for record, request in zip(fresh, requests, strict=True):
        record_legs, record_offers = _child_rows(record, request)
        legs.extend(record_legs)
        offers.extend(record_offers)
    QuoteLeg.objects.bulk_create(legs)
    QuoteOffer.objects.bulk_create(offers)
    InboundMessage.objects.bulk_create(messages)


class QuoteRecorder:
    """Writes quote records in batches on its own thread, so quote threads never wait on the
    database. Unstarted (tests, tools) it writes at once, on the caller's thread.

    A confirmation for a parlay still in the queue waits for it (`wait`): ProphetX's confirm
    comes seconds after the offer, the queue drains in milliseconds.
    """

    def __init__(self, write: Callable[[Sequence[QuoteRecord]], None], *, max_batch: int = 200) -> None:
        self._write = write
        self.max_batch = max_batch
        self._queue: queue.Queue[QuoteRecord | None] = queue.Queue()
        self._pending: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> QuoteRecorder:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="px-quote-recorder", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def expect(self, parlay_id: str) -> None:
        """Mark a quote as on its way (call before its offer is sent)."""
        if self._thread is not None:
            with self._lock:
                self._pending.setdefault(parlay_id, threading.Event())

    def submit(self, record: QuoteRecord) -> None:
        if self._thread is None:
            self._write_safely([record])
            return
        self.expect(record.ask.parlay_id)
        self._queue.put(record)

    def wait(self, parlay_id: str, timeout: float) -> None:
        with self._lock:
            event = self._pending.get(parlay_id)
        if event is not None:
            event.wait(timeout)

    def backlog(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                connection.close()  # this thread's connection ends with it
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._write_safely(batch)
            with self._lock:
                for record in batch:
                    event = self._pending.pop(record.ask.parlay_id, None)
                    if event is not None:
                        event.set()

    def _write_safely(self, batch: Sequence[QuoteRecord]) -> None:
        for attempt in (1, 2):
            try:
                self._write(batch)
                return
            except (OperationalError, InterfaceError):
                logger.warning("quote recording failed (attempt %s)", attempt, exc_info=True)
                connection.close()
            except Exception:
                logger.exception("quote recording failed; %s quotes not recorded", len(batch))
                return
        logger.error("database unavailable: %s quotes not recorded", len(batch))
