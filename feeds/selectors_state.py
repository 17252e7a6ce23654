"""The read API's selectors: an event's whole stored state and the message journal.

Re-exported by feeds.selectors (import them from there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from feeds.models import BetCancel, FeedMessage, Market, MarketChange, MarketSettlement, SportEvent, ms_to_datetime
from feeds.selectors import _context, _event_info, line_freshness
from feeds.services.descriptions import NameContext, NameResolver, code_names
from feeds.services.producers import producer_is_up

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
