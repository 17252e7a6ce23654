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

from django.db.models import QuerySet
from django.utils import timezone

from feeds import conf
from feeds.models import (
    BetCancel,
    FeedMessage,
    Market,
    MarketChange,
    MarketSettlement,
    Producer,
    SportEvent,
    ms_to_datetime,
)
from feeds.protocol.errors import MalformedMessage
from feeds.protocol.specifiers import canonical_specifiers as _canonical
from feeds.services.descriptions import NameContext, NameResolver, code_names
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


# --- the read API: the whole stored state ----------------------------------------------------------

EVENT_STATUS_NAMES = {
    0: "not started",
    1: "live",
    2: "suspended",
    3: "ended",
    4: "closed",
    5: "cancelled",
    6: "delayed",
    7: "interrupted",
    8: "postponed",
    9: "abandoned",
}
MARKET_STATUS_NAMES = {
    1: "active",
    0: "inactive",
    -1: "suspended",
    -2: "handed over",
    -3: "settled",
    -4: "cancelled",
}
JOURNAL_OUTCOMES = tuple(FeedMessage.Outcome.values)


def _producer_names() -> dict[int, str]:
    return dict(Producer.objects.values_list("id", "name"))


def _settlement_state(
    row: MarketSettlement, names: NameResolver, mk: Market, ctx: NameContext, rollbacks: dict, void_names: dict
) -> dict[str, Any]:
    rolled_back_ts = rollbacks.get((mk.pk, row.producer_id))
    return {
        "producer_id": row.producer_id,
        "certainty": row.certainty,
        "void_reason": row.void_reason,
        "void_reason_name": void_names.get(row.void_reason, "") if row.void_reason is not None else "",
        "message_time": ms_to_datetime(row.message_ts),
        "updated_at": row.updated_at,
        # A rollback empties the outcomes it names (all of them when it names none): the row stays
        # as the guard against late settlements. Rolled back: the producer's last word on the line
        # was a rollback.
        "rolled_back": rolled_back_ts is not None,
        "rolled_back_time": ms_to_datetime(rolled_back_ts) if rolled_back_ts is not None else None,
        "outcomes": [
            {
                "id": oid,
                "name": names.outcome_name(mk.market_id, mk.specifiers, oid, ctx),
                "result": state.get("result"),
                "void_factor": state.get("void_factor"),
                "dead_heat_factor": state.get("dead_heat_factor"),
            }
            for oid, state in row.outcomes.items()
        ],
    }


def _cancel_state(row: BetCancel, void_names: dict) -> dict[str, Any]:
    return {
        "producer_id": row.producer_id,
        "start_time": row.start_time,
        "end_time": row.end_time,
        "void_reason": row.void_reason,
        "void_reason_name": void_names.get(row.void_reason, "") if row.void_reason is not None else "",
        "superceded_by": row.superceded_by,
        "active": row.active,
        "rolled_back": row.rollback_ts is not None,
        "cancel_time": ms_to_datetime(row.cancel_ts),
        "rollback_time": ms_to_datetime(row.rollback_ts),
    }


def _last_settlement_rollbacks(market_ids: list[int]) -> dict[tuple[int, int], int]:
    """(market, producer) -> message ts of a rollback that is the producer's latest settlement change."""
    last: dict[tuple[int, int], tuple[str, int]] = {}
    kinds = [MarketChange.Kind.SETTLEMENT, MarketChange.Kind.SETTLEMENT_ROLLBACK]
    for market_id, producer_id, kind, message_ts in (
        MarketChange.objects.filter(market_id__in=market_ids, kind__in=kinds)
        .order_by("id")
        .values_list("market_id", "producer_id", "kind", "message_ts")
    ):
        last[(market_id, producer_id)] = (kind, message_ts)
    return {key: ts for key, (kind, ts) in last.items() if kind == MarketChange.Kind.SETTLEMENT_ROLLBACK}


def event_state(event_urn: str) -> dict[str, Any] | None:
    """Everything stored about an event (read API): status with names, and per line its odds,
    freshness, bet stop, settlements per producer and cancels."""
    event = SportEvent.objects.filter(urn=event_urn).first()
    if event is None:
        return None
    info = _event_info(event)
    ctx = _context(info)
    markets = list(
        event.markets.select_related("producer")
        .prefetch_related("settlements", "cancels")
        .order_by("market_id", "specifiers")
    )
    names = NameResolver({mk.market_id for mk in markets})
    void_names = code_names("void_reasons")
    rollbacks = _last_settlement_rollbacks([mk.pk for mk in markets])
    now = timezone.now()
    lines = []
    for mk in markets:
        stale = (
            line_freshness(mk.producer, mk.odds_ts, sport_id=event.sport_id, now=now) if mk.producer else "no producer"
        )
        lines.append(
            {
                "market_id": mk.market_id,
                "specifiers": mk.specifiers,
                "extended_specifiers": mk.extended_specifiers,
                "name": names.market_name(mk.market_id, mk.specifiers, ctx),
                "status": mk.status,
                "status_name": MARKET_STATUS_NAMES.get(mk.status, ""),
                "producer_id": mk.producer_id,
                "producer_up": bool(mk.producer) and producer_is_up(mk.producer, now),
                "fresh": not stale,
                "stale_reason": stale,
                "odds_updated_at": mk.odds_updated_at,
                "last_message_time": ms_to_datetime(mk.last_ts) if mk.last_ts else None,
                "favourite": mk.favourite,
                "cashout_status": mk.cashout_status,
                "bet_stop": {
                    # bet_stop (or an odds_change with a betstop_reason) suspends active lines.
                    "stopped": mk.status == -1,
                    "next_betstop": ms_to_datetime(mk.next_betstop) if mk.next_betstop else None,
                },
                "outcomes": [
                    {
                        "id": oid,
                        "name": names.outcome_name(mk.market_id, mk.specifiers, oid, ctx),
                        "odds": state.get("odds"),
                        "probability": state.get("prob"),
                        "active": bool(state.get("active")),
                    }
                    for oid, state in mk.outcomes.items()
                ],
                "settlements": [
                    _settlement_state(row, names, mk, ctx, rollbacks, void_names)
                    for row in sorted(mk.settlements.all(), key=lambda r: r.producer_id)
                ],
                "cancels": [_cancel_state(row, void_names) for row in sorted(mk.cancels.all(), key=lambda r: r.pk)],
            }
        )
    betting_names = code_names("betting_status")
    betstop_names = code_names("betstop_reasons")
    match_names = code_names("match_status")
    state = {
        "event_urn": event.urn,
        "name": event.name,
        "sport_id": event.sport_id,
        "sport_name": event.sport_name,
        "category_name": event.category_name,
        "tournament_urn": event.tournament_urn,
        "tournament_name": event.tournament_name,
        "scheduled": event.scheduled,
        "start_time_tbd": event.start_time_tbd,
        "competitors": info.competitors,
        "status": event.status,
        "status_name": EVENT_STATUS_NAMES.get(event.status, "") if event.status is not None else "",
        "match_status": event.match_status,
        "match_status_name": match_names.get(event.match_status, "") if event.match_status is not None else "",
        "home_score": event.home_score,
        "away_score": event.away_score,
        "status_time": ms_to_datetime(event.status_ts) if event.status_ts else None,
        "betting_status": event.betting_status,
        "betting_status_name": betting_names.get(event.betting_status, "") if event.betting_status is not None else "",
        "betstop_reason": event.betstop_reason,
        "betstop_reason_name": betstop_names.get(event.betstop_reason, "") if event.betstop_reason is not None else "",
        "fixture_loaded": info.fixture_loaded,
    }
    return {"event": state, "markets": lines}


def journal(
    *,
    outcome: str = "",
    kind: str = "",
    event_urn: str = "",
    product: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[FeedMessage]:
    """The message journal, newest first, without bodies (the API pages through it by id)."""
    qs = FeedMessage.objects.defer("body").order_by("-id")
    if outcome:
        qs = qs.filter(outcome=outcome)
    if kind:
        qs = qs.filter(kind=kind)
    if event_urn:
        qs = qs.filter(event_urn=event_urn)
    if product is not None:
        qs = qs.filter(product=product)
    if since is not None:
        qs = qs.filter(received_at__gte=since)
    if until is not None:
        qs = qs.filter(received_at__lt=until)
    return qs
