"""Read-side of the feed state, for the parlay pricer, the CRM, the admin and the read API.

market_quote() is the pricer's contract: it returns what is stored and whether the producer
is usable *now* (computed at read time); the pricer decides on freshness and status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from feeds.models import BetCancel, Market, MarketSettlement, Producer, SportEvent, ms_to_datetime
from feeds.protocol.errors import MalformedMessage
from feeds.protocol.specifiers import canonical_specifiers as _canonical
from feeds.services.descriptions import NameContext, NameResolver
from feeds.services.producers import alive_recent, producer_is_up

__all__ = [
    "MarketQuote",
    "EventInfo",
    "Competitor",
    "SelectionInfo",
    "ProducerHealth",
    "canonical_specifiers",
    "market_quote",
    "event_info",
    "selection_info",
    "event_markets",
    "producer_health",
    "market_settlements",
    "market_cancels",
]


@dataclass(frozen=True)
class MarketQuote:
    event_urn: str  # e.g. "sr:match:12345"
    market_id: int
    specifiers: str  # canonical "k=v|k=v" sorted by key, "" when none
    status: int  # UOF market status (1 = active)
    producer_id: int
    producer_up: bool  # alive within the window, subscribed, not in recovery
    odds_updated_at: datetime  # aware UTC: when the odds now held were produced (message timestamp)
    outcomes: dict[str, Decimal]  # outcome id -> decimal odds, active outcomes only


def canonical_specifiers(raw: str) -> str:
    """'total=2.5|hcp=1' -> 'hcp=1|total=2.5'; '' -> ''. Raises ValueError when malformed."""
    try:
        return _canonical(raw or "")
    except MalformedMessage as exc:
        raise ValueError(str(exc)) from None


def market_quote(*, event_urn: str, market_id: int, specifiers: str = "") -> MarketQuote | None:
    """The current line, or None when unknown, never priced, or the specifiers are malformed."""
    try:
        spec = canonical_specifiers(specifiers)
    except ValueError:
        return None
    row = (
        Market.objects.filter(event__urn=event_urn, market_id=market_id, specifiers=spec)
        .select_related("producer")
        .only("status", "outcomes", "odds_ts", "producer")
        .first()
    )
    if row is None or row.producer is None or not row.odds_ts:
        return None
    outcomes = {
        oid: Decimal(state["odds"])
        for oid, state in row.outcomes.items()
        if state.get("active") and state.get("odds") is not None
    }
    return MarketQuote(
        event_urn=event_urn,
        market_id=market_id,
        specifiers=spec,
        status=row.status,
        producer_id=row.producer.pk,
        producer_up=producer_is_up(row.producer),
        odds_updated_at=ms_to_datetime(row.odds_ts),  # type: ignore[arg-type]
        outcomes=outcomes,
    )


@dataclass(frozen=True)
class Competitor:
    id: str
    name: str
    qualifier: str = ""
    abbreviation: str = ""


@dataclass(frozen=True)
class EventInfo:
    event_urn: str
    name: str  # "home vs. away", "" until the fixture is fetched
    sport_id: int | None
    sport_name: str
    category_name: str
    tournament_urn: str
    tournament_name: str
    season_urn: str
    season_name: str
    scheduled: datetime | None
    competitors: tuple[Competitor, ...]
    home: Competitor | None
    away: Competitor | None
    status: int | None  # sport_event_status: 0 not started, 1 live, 2 suspended, 3 ended, 4 closed
    match_status: int | None
    home_score: str
    away_score: str
    fixture_loaded: bool

    @property
    def is_live(self) -> bool:
        return self.status == 1


def _event_info(event: SportEvent) -> EventInfo:
    competitors = tuple(
        Competitor(c.get("id", ""), c.get("name", ""), c.get("qualifier", ""), c.get("abbreviation", ""))
        for c in event.competitors or []
    )
    home = next((c for c in competitors if c.qualifier == "home"), None)
    away = next((c for c in competitors if c.qualifier == "away"), None)
    return EventInfo(
        event_urn=event.urn,
        name=event.name,
        sport_id=event.sport_id,
        sport_name=event.sport_name,
        category_name=event.category_name,
        tournament_urn=event.tournament_urn,
        tournament_name=event.tournament_name,
        season_urn=event.season_urn,
        season_name=event.season_name,
        scheduled=event.scheduled,
        competitors=competitors,
        home=home,
        away=away,
        status=event.status,
        match_status=event.match_status,
        home_score=event.home_score,
        away_score=event.away_score,
        fixture_loaded=event.fixture_fetched_at is not None,
    )


def event_info(event_urn: str) -> EventInfo | None:
    event = SportEvent.objects.filter(urn=event_urn).first()
    return _event_info(event) if event else None


def _context(info: EventInfo) -> NameContext:
    return NameContext(
        competitor1=info.home.name if info.home else None,
        competitor2=info.away.name if info.away else None,
        event_name=info.name or None,
    )


@dataclass(frozen=True)
class SelectionInfo:
    """Names for one selection (bet leg), as in the normalised Bet.selections of HELPERS.md."""

    event: EventInfo
    market_id: int
    specifiers: str
    market_name: str
    outcome_id: str
    outcome_name: str

    def as_selection(self, odds: Decimal | None = None) -> dict[str, Any]:
        sel: dict[str, Any] = {
            "sport_id": self.event.sport_id,
            "sport": self.event.sport_name,
            "tournament_id": self.event.tournament_urn,
            "tournament": self.event.tournament_name,
            "event_id": self.event.event_urn,
            "event": self.event.name,
            "event_date": self.event.scheduled.isoformat() if self.event.scheduled else None,
            "market_id": self.market_id,
            "specifiers": self.specifiers,
            "market": self.market_name,
            "outcome_id": self.outcome_id,
            "outcome": self.outcome_name,
            "is_live": self.event.is_live,
        }
        if odds is not None:
            sel["odds"] = str(odds)
        return {k: v for k, v in sel.items() if v not in (None, "")}


def selection_info(*, event_urn: str, market_id: int, specifiers: str = "", outcome_id: str) -> SelectionInfo | None:
    info = event_info(event_urn)
    if info is None:
        return None
    spec = canonical_specifiers(specifiers)
    names = NameResolver([market_id])
    ctx = _context(info)
    return SelectionInfo(
        event=info,
        market_id=market_id,
        specifiers=spec,
        market_name=names.market_name(market_id, spec, ctx),
        outcome_id=outcome_id,
        outcome_name=names.outcome_name(market_id, spec, outcome_id, ctx),
    )


def event_markets(event_urn: str) -> dict[str, Any] | None:
    """An event with all its lines, names resolved (read API and admin)."""
    event = SportEvent.objects.filter(urn=event_urn).first()
    if event is None:
        return None
    info = _event_info(event)
    ctx = _context(info)
    markets = list(event.markets.select_related("producer").order_by("market_id", "specifiers"))
    names = NameResolver({mk.market_id for mk in markets})
    now = timezone.now()
    producers_up: dict[int, bool] = {}
    lines = []
    for mk in markets:
        if mk.producer_id is not None and mk.producer_id not in producers_up:
            producers_up[mk.producer_id] = producer_is_up(mk.producer, now)
        lines.append(
            {
                "market_id": mk.market_id,
                "specifiers": mk.specifiers,
                "name": names.market_name(mk.market_id, mk.specifiers, ctx),
                "status": mk.status,
                "producer_id": mk.producer_id,
                "producer_up": producers_up.get(mk.producer_id, False) if mk.producer_id else False,
                "odds_updated_at": mk.odds_updated_at,
                "outcomes": [
                    {
                        "id": oid,
                        "name": names.outcome_name(mk.market_id, mk.specifiers, oid, ctx),
                        "odds": state.get("odds"),
                        "active": bool(state.get("active")),
                    }
                    for oid, state in mk.outcomes.items()
                ],
            }
        )
    return {"event": info, "markets": lines}


@dataclass(frozen=True)
class ProducerHealth:
    id: int
    name: str
    status: str
    usable: bool
    subscribed: bool
    alive_recent: bool
    last_alive_at: datetime | None
    status_reason: str
    recovery_id: int | None


def producer_health() -> list[ProducerHealth]:
    now = timezone.now()
    return [
        ProducerHealth(
            id=p.pk,
            name=p.name,
            status=p.status,
            usable=producer_is_up(p, now),
            subscribed=p.subscribed,
            alive_recent=alive_recent(p, now),
            last_alive_at=p.last_alive_at,
            status_reason=p.status_reason,
            recovery_id=p.recovery_id,
        )
        for p in Producer.objects.all()
    ]


def market_settlements(*, event_urn: str, market_id: int, specifiers: str = "") -> list[MarketSettlement]:
    """Each producer's current settlement of the line (results, void and dead-heat factors)."""
    return list(
        MarketSettlement.objects.filter(
            market__event__urn=event_urn,
            market__market_id=market_id,
            market__specifiers=canonical_specifiers(specifiers),
        ).order_by("producer_id")
    )


def market_cancels(
    *, event_urn: str, market_id: int, specifiers: str = "", active_only: bool = True
) -> list[BetCancel]:
    qs = BetCancel.objects.filter(
        market__event__urn=event_urn, market__market_id=market_id, market__specifiers=canonical_specifiers(specifiers)
    )
    if active_only:
        qs = qs.filter(active=True)
    return list(qs.order_by("id"))
