"""Read-side of the feed state, for the parlay pricer, the CRM, the admin and the read API.

market_quote() is the pricer's contract: it returns what is stored and whether the producer
is usable *now* (computed at read time); the pricer decides on freshness and status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from feeds import conf
from feeds.models import (
    BetCancel,
    FeedConsumer,
    Market,
    MarketSettlement,
    Producer,
    SportEvent,
    ms_to_datetime,
)
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
    "event_state",
    "journal",
    "JOURNAL_OUTCOMES",
    "EVENT_STATUS_NAMES",
    "MARKET_STATUS_NAMES",
    "line_freshness",
    "offered_outcomes",
    "ConsumerHealth",
    "feed_consumers",
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
    # The feed's own truth (line_freshness): the odds are current. The pricer trusts this
    # instead of an age limit: Betradar re-sends a line only when its price moves.
    fresh: bool = False
    stale_reason: str = ""  # why not fresh, "" when fresh


def canonical_specifiers(raw: str) -> str:
    """'total=2.5|hcp=1' -> 'hcp=1|total=2.5'; '' -> ''. Raises ValueError when malformed."""
    try:
        return _canonical(raw or "")
    except MalformedMessage as exc:
        raise ValueError(str(exc)) from None


def line_freshness(
    producer: Producer, odds_ts: int, *, sport_id: int | None = None, now: datetime | None = None
) -> str:
    """'' when a line's odds are current, else why not.

    Current: the producer is usable now (up after a recovery, subscribed, alives within the
    window) and has been up without interruption since the odds came: the line's odds are newer
    than the start of the recovery that brought the producer up (`up_since_ts`). A line the
    recovery did not re-send is no longer offered. Quiet lines stay fresh for as long as
    alives say nothing was missed. An optional maximum age per producer or producer/sport
    (UOF_ODDS_MAX_AGE) applies on top.
    """
    now = now or timezone.now()
    if not producer_is_up(producer, now):
        return f"producer {producer.pk} is {producer.status}" + (
            "" if producer.status != Producer.Status.UP else " but its alives stopped or it is unsubscribed"
        )
    if not odds_ts:
        return "no odds received"
    if producer.up_since_ts is not None and odds_ts < producer.up_since_ts:
        return f"odds from before producer {producer.pk}'s last interruption (not re-sent by its recovery)"
    max_age = conf.ODDS_MAX_AGE.get((producer.pk, sport_id)) or conf.ODDS_MAX_AGE.get((producer.pk, None))
    if max_age:
        age = now.timestamp() - odds_ts / 1000
        if age > max_age:
            return f"odds are {age:.0f}s old (max {max_age}s for producer {producer.pk})"
    return ""


def market_quote(*, event_urn: str, market_id: int, specifiers: str = "") -> MarketQuote | None:
    """The current line, or None when unknown, never priced, or the specifiers are malformed."""
    try:
        spec = canonical_specifiers(specifiers)
    except ValueError:
        return None
    row = (
        Market.objects.filter(event__urn=event_urn, market_id=market_id, specifiers=spec)
        .select_related("producer", "event")
        .only("status", "outcomes", "odds_ts", "producer", "event__sport_id")
        .first()
    )
    if row is None or row.producer is None or not row.odds_ts:
        return None
    outcomes = {
        oid: Decimal(state["odds"])
        for oid, state in row.outcomes.items()
        if state.get("active") and state.get("odds") is not None
    }
    now = timezone.now()
    stale = line_freshness(row.producer, row.odds_ts, sport_id=row.event.sport_id, now=now)
    return MarketQuote(
        event_urn=event_urn,
        market_id=market_id,
        specifiers=spec,
        status=row.status,
        producer_id=row.producer.pk,
        producer_up=producer_is_up(row.producer, now),
        odds_updated_at=ms_to_datetime(row.odds_ts),  # type: ignore[arg-type]
        outcomes=outcomes,
        fresh=not stale,
        stale_reason=stale,
    )


def offered_outcomes(lines: Iterable[tuple[str, int, str, str]]) -> set[tuple[str, int, str, str]]:
    """Of (event urn, market id, specifiers, outcome id), those the feed has offered (the line
    exists and lists the outcome, active or not): what may be registered with an exchange."""
    wanted: dict[tuple[str, int, str], list[tuple[str, tuple[str, int, str, str]]]] = {}
    for line in lines:
        urn, market_id, specifiers, outcome_id = line
        try:
            spec = canonical_specifiers(specifiers)
        except ValueError:
            continue
        wanted.setdefault((urn, market_id, spec), []).append((outcome_id, line))
    if not wanted:
        return set()
    found: set[tuple[str, int, str, str]] = set()
    rows = Market.objects.filter(
        event__urn__in={urn for urn, _, _ in wanted}, market_id__in={mid for _, mid, _ in wanted}
    ).values_list("event__urn", "market_id", "specifiers", "outcomes")
    for urn, market_id, spec, outcomes in rows.iterator(chunk_size=2000):
        for outcome_id, line in wanted.get((urn, market_id, spec), ()):
            if outcome_id in outcomes:
                found.add(line)
    return found


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
    status_reason: str  # why it is in its state ("alive with subscribed=0", "recovery 12 complete"…)
    recovery_id: int | None
    status_changed_at: datetime | None = None
    up_since: datetime | None = None  # producer clock: start of the current uninterrupted period
    recovery_status: str = ""  # of the request in flight
    recovery_requested_at: datetime | None = None


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
            status_changed_at=p.status_changed_at,
            up_since=ms_to_datetime(p.up_since_ts) if p.up_since_ts and p.status == Producer.Status.UP else None,
            recovery_status=p.recovery.status if p.recovery else "",
            recovery_requested_at=p.recovery.requested_at if p.recovery else None,
        )
        for p in Producer.objects.select_related("recovery")
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


# The read API's selectors (event_state, journal, the code names) live in feeds/selectors_state.py,
# re-exported here: one module for readers. Imported last, it uses the helpers above.
from feeds.selectors_state import (  # noqa: E402
    EVENT_STATUS_NAMES,
    JOURNAL_OUTCOMES,
    MARKET_STATUS_NAMES,
    event_state,
    journal,
)


@dataclass(frozen=True)
class ConsumerHealth:
    name: str
    share: str  # 'k/N', '' for every event its bindings bring
    keys: str
    host: str
    started_at: datetime
    seen_at: datetime
    silent: bool  # no heartbeat within UOF_CONSUMER_SILENCE_SECONDS: its share of the feed is missing


def feed_consumers() -> list[ConsumerHealth]:
    """The registered partition consumers (admin): a silent one keeps producers down."""
    cutoff = timezone.now().timestamp() - conf.CONSUMER_SILENCE_SECONDS
    return [
        ConsumerHealth(c.name, c.share, c.keys, c.host, c.started_at, c.seen_at, c.seen_at.timestamp() < cutoff)
        for c in FeedConsumer.objects.order_by("name")
    ]
