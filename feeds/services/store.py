"""Load the rows a batch of messages needs into a Workspace, and write back what changed.

Runs inside the batch's transaction. Feed-state writers (the consumer, replays, the simulator's
direct mode) serialise on one transaction-level advisory lock: the domain decides staleness on
rows it read, so two writers interleaving on the same line could otherwise lose an update.
The consumer is the only steady writer, so the lock costs nothing in normal operation.

Market lines are written with one INSERT … ON CONFLICT DO UPDATE per batch; on PostgreSQL the
rows travel as arrays through unnest() (one statement, no per-row ORM objects), elsewhere
(SQLite in tests and the embedded demo) through bulk_create(update_conflicts=True).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from feeds.models import (
    BetCancel,
    FeedMessage,
    Market,
    MarketChange,
    MarketSettlement,
    Producer,
    RecoveryRequest,
    SportEvent,
)
from feeds.protocol import messages as m
from feeds.protocol.producers import DEFAULT_WINDOW_MINUTES, KNOWN_PRODUCERS
from feeds.services.state import CancelRow, EventRow, MarketRow, SettlementRow, Workspace

ADVISORY_LOCK_KEY = 0x756F66  # 'uof'

_EVENT_FIELDS = (
    "sport_id",
    "status",
    "match_status",
    "home_score",
    "away_score",
    "status_data",
    "status_ts",
    "betting_status",
    "betstop_reason",
    "odds_ts",
    "fixture_change_ts",
    "fixture_change_type",
    "scheduled",
    "fixture_needed",
)

_MARKET_COLUMNS = (
    ("event_id", "bigint"),
    ("market_id", "integer"),
    ("specifiers", "varchar"),
    ("extended_specifiers", "varchar"),
    ("status", "smallint"),
    ("producer_id", "smallint"),
    ("outcomes", "jsonb"),
    ("favourite", "boolean"),
    ("cashout_status", "smallint"),
    ("next_betstop", "bigint"),
    ("odds_ts", "bigint"),
    ("last_ts", "bigint"),
    ("updated_at", "timestamptz"),
)
_MARKET_UPDATE = [c for c, _ in _MARKET_COLUMNS if c not in ("event_id", "market_id", "specifiers")]


def lock_feed_state() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])


def producer_defaults(product: int) -> Producer:
    known = KNOWN_PRODUCERS.get(product)
    from feeds import conf  # late: conf reads Django settings

    base = conf.api_url().rstrip("/")
    return Producer(
        id=product,
        name=known.name if known else f"producer {product}",
        api_url=f"{base}/{known.path}/" if (known and base) else "",
        scope=known.scope if known else "",
        recovery_window_minutes=known.window_minutes if known else DEFAULT_WINDOW_MINUTES,
    )


def ensure_producers(ids: Iterable[int]) -> None:
    wanted = set(ids)
    if not wanted:
        return
    existing = set(Producer.objects.filter(id__in=wanted).values_list("id", flat=True))
    missing = wanted - existing
    if missing:
        Producer.objects.bulk_create([producer_defaults(p) for p in sorted(missing)], ignore_conflicts=True)


def ensure_events(urns: Iterable[str]) -> dict[str, int]:
    """URN -> pk, creating rows for events seen for the first time (fixture fetched later)."""
    wanted = set(urns)
    if not wanted:
        return {}
    found = dict(SportEvent.objects.filter(urn__in=wanted).values_list("urn", "id"))
    missing = wanted - found.keys()
    if missing:
        SportEvent.objects.bulk_create([SportEvent(urn=u) for u in sorted(missing)], ignore_conflicts=True)
        found.update(SportEvent.objects.filter(urn__in=missing).values_list("urn", "id"))
    return found


def load(ws: Workspace, parsed: list[m.Message]) -> None:
    event_urns: set[str] = set()
    products: set[int] = set()
    locked_products: set[int] = set()
    full_events: set[str] = set()
    market_keys: set[tuple[str, int, str]] = set()
    stateful_keys: set[tuple[str, int, str]] = set()
    for msg in parsed:
        products.add(msg.product)
        if isinstance(msg, m.Alive | m.SnapshotComplete):
            locked_products.add(msg.product)
            continue
        event_urns.add(msg.event_urn)
        if isinstance(msg, m.BetStop) or (
            isinstance(msg, m.OddsChange) and msg.has_odds and not msg.markets and msg.betstop_reason is not None
        ):
            full_events.add(msg.event_urn)
        if isinstance(msg, m.OddsChange):
            market_keys.update((msg.event_urn, mo.id, mo.specifiers) for mo in msg.markets)
        elif isinstance(msg, m.BetSettlement | m.BetCancel | m.RollbackBetSettlement | m.RollbackBetCancel):
            keys = {(msg.event_urn, mr.id, mr.specifiers) for mr in msg.markets}
            market_keys.update(keys)
            stateful_keys.update(keys)

    ensure_producers(products)
    if locked_products:
        for producer in Producer.objects.select_for_update().filter(id__in=locked_products).order_by("id"):
            ws.producers[producer.pk] = producer

    event_ids = ensure_events(event_urns)
    urn_by_pk = {pk: urn for urn, pk in event_ids.items()}
    if event_ids:
        rows = SportEvent.objects.filter(id__in=event_ids.values()).values_list("id", *_EVENT_FIELDS)
        for pk, *values in rows:
            ws.events[urn_by_pk[pk]] = EventRow(pk, urn_by_pk[pk], **dict(zip(_EVENT_FIELDS, values, strict=True)))

    columns = (
        "id",
        "event_id",
        "market_id",
        "specifiers",
        "extended_specifiers",
        "status",
        "producer_id",
        "outcomes",
        "favourite",
        "cashout_status",
        "next_betstop",
        "odds_ts",
        "last_ts",
    )

    def add(rows: Iterable[tuple]) -> None:
        for pk, event_pk, market_id, specifiers, *rest in rows:
            urn = urn_by_pk[event_pk]
            key = (urn, market_id, specifiers)
            if key in ws.markets:
                continue
            if urn not in full_events and key not in market_keys:
                continue
            ws.add_market(MarketRow(pk, event_pk, urn, market_id, specifiers, *rest))

    if full_events:
        add(Market.objects.filter(event_id__in=[event_ids[u] for u in full_events]).values_list(*columns))
    partial = {urn for urn, _, _ in market_keys} - full_events
    if partial:
        market_ids = {mid for urn, mid, _ in market_keys if urn in partial}
        add(
            Market.objects.filter(event_id__in=[event_ids[u] for u in partial], market_id__in=market_ids).values_list(
                *columns
            )
        )

    stateful = {ws.markets[k].pk: ws.markets[k] for k in stateful_keys if k in ws.markets}
    if stateful:
        for pk, market_pk, producer_id, certainty, void_reason, outcomes, message_ts in MarketSettlement.objects.filter(
            market_id__in=stateful
        ).values_list("id", "market_id", "producer_id", "certainty", "void_reason", "outcomes", "message_ts"):
            row = stateful[market_pk]
            ws.settlements[(row.key, producer_id)] = SettlementRow(
                pk, row, producer_id, certainty, void_reason, outcomes, message_ts
            )
        for values in BetCancel.objects.filter(market_id__in=stateful).values_list(
            "id",
            "market_id",
            "producer_id",
            "window_key",
            "start_ts",
            "end_ts",
            "void_reason",
            "superceded_by",
            "active",
            "cancel_ts",
            "rollback_ts",
        ):
            pk, market_pk, producer_id, wkey, *rest = values
            row = stateful[market_pk]
            ws.cancels[(row.key, producer_id, wkey)] = CancelRow(pk, row, producer_id, wkey, *rest)


# --- writing -------------------------------------------------------------------------------------


def _flush_events(ws: Workspace) -> None:
    dirty = [e for e in ws.events.values() if e.dirty]
    if not dirty:
        return
    objs = []
    for e in dirty:
        obj = SportEvent(pk=e.pk, updated_at=ws.now)
        for name in _EVENT_FIELDS:
            setattr(obj, name, getattr(e, name))
        objs.append(obj)
    SportEvent.objects.bulk_update(objs, [*_EVENT_FIELDS, "updated_at"])


def _market_values(row: MarketRow, now: datetime) -> tuple:
    return (
        row.event_pk,
        row.market_id,
        row.specifiers,
        row.extended_specifiers,
        row.status,
        row.producer_id,
        row.outcomes,
        row.favourite,
        row.cashout_status,
        row.next_betstop,
        row.odds_ts,
        row.last_ts,
        now,
    )


def _flush_markets(ws: Workspace) -> None:
    dirty = [r for r in ws.markets.values() if r.dirty]
    if not dirty:
        return
    if connection.vendor == "postgresql":
        _flush_markets_pg(dirty, ws.now)
    else:
        objs = [
            Market(**dict(zip([c for c, _ in _MARKET_COLUMNS], _market_values(r, ws.now), strict=True))) for r in dirty
        ]
        Market.objects.bulk_create(
            objs,
            update_conflicts=True,
            unique_fields=["event", "market_id", "specifiers"],
            update_fields=_MARKET_UPDATE,
        )
        for row, obj in zip(dirty, objs, strict=True):
            row.pk = obj.pk
    for row in dirty:
        row.dirty = False


def _flush_markets_pg(dirty: list[MarketRow], now: datetime) -> None:
    columns = [[] for _ in _MARKET_COLUMNS]
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    for row in dirty:
        for i, value in enumerate(_market_values(row, now)):
            columns[i].append(dumps(value) if i == 6 else value)
    names = ", ".join(c for c, _ in _MARKET_COLUMNS)
    arrays = ", ".join(f"%s::{t}[]" for _, t in _MARKET_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _MARKET_UPDATE)
    sql = (
        f"INSERT INTO feeds_market ({names}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT (event_id, market_id, specifiers) DO UPDATE SET {updates} "
        "RETURNING id, event_id, market_id, specifiers"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)
        ids = {(e, mid, spec): pk for pk, e, mid, spec in cursor.fetchall()}
    for row in dirty:
        row.pk = ids[(row.event_pk, row.market_id, row.specifiers)]


def _flush_settlements(ws: Workspace) -> None:
    dirty = [s for s in ws.settlements.values() if s.dirty]
    if not dirty:
        return
    objs = [
        MarketSettlement(
            market_id=s.market.pk,
            producer_id=s.producer_id,
            certainty=s.certainty,
            void_reason=s.void_reason,
            outcomes=s.outcomes,
            message_ts=s.message_ts,
            updated_at=ws.now,
        )
        for s in dirty
    ]
    MarketSettlement.objects.bulk_create(
        objs,
        update_conflicts=True,
        unique_fields=["market", "producer"],
        update_fields=["certainty", "void_reason", "outcomes", "message_ts", "updated_at"],
    )
    for s, obj in zip(dirty, objs, strict=True):
        s.pk, s.dirty = obj.pk, False


def _flush_cancels(ws: Workspace) -> None:
    dirty = [c for c in ws.cancels.values() if c.dirty]
    if not dirty:
        return
    objs = [
        BetCancel(
            market_id=c.market.pk,
            producer_id=c.producer_id,
            window_key=c.window_key,
            start_ts=c.start_ts,
            end_ts=c.end_ts,
            void_reason=c.void_reason,
            superceded_by=c.superceded_by,
            active=c.active,
            cancel_ts=c.cancel_ts,
            rollback_ts=c.rollback_ts,
            updated_at=ws.now,
        )
        for c in dirty
    ]
    BetCancel.objects.bulk_create(
        objs,
        update_conflicts=True,
        unique_fields=["market", "producer", "window_key"],
        update_fields=["void_reason", "superceded_by", "active", "cancel_ts", "rollback_ts", "updated_at"],
    )
    for c, obj in zip(dirty, objs, strict=True):
        c.pk, c.dirty = obj.pk, False


_PRODUCER_FIELDS = [
    "status",
    "status_reason",
    "status_changed_at",
    "subscribed",
    "last_alive_at",
    "last_alive_ts",
    "recover_after_ts",
    "recovery",
    "updated_at",
]


def flush(ws: Workspace, journal: list[FeedMessage]) -> None:
    """Write everything the workspace changed, then the journal rows and the history."""
    _flush_events(ws)
    _flush_markets(ws)
    _flush_settlements(ws)
    _flush_cancels(ws)
    for pk in sorted(ws.dirty_producers):
        ws.producers[pk].save(update_fields=_PRODUCER_FIELDS)
    if ws.recovery_activity:
        RecoveryRequest.objects.filter(id__in=ws.recovery_activity).update(last_activity_at=ws.now)
    if ws.completed_requests:
        RecoveryRequest.objects.filter(
            id__in=ws.completed_requests,
            status__in=[RecoveryRequest.Status.PENDING, RecoveryRequest.Status.ACCEPTED],
        ).update(status=RecoveryRequest.Status.COMPLETED, completed_at=ws.now)
    if journal:
        FeedMessage.objects.bulk_create(journal)
    if ws.history:
        MarketChange.objects.bulk_create(
            [
                MarketChange(
                    market_id=h.market.pk,
                    producer_id=h.producer_id,
                    kind=h.kind,
                    message_ts=h.message_ts,
                    before=h.before,
                    after=h.after,
                    journal_id=journal[h.message_index].pk if h.message_index < len(journal) else None,
                    created_at=ws.now,
                )
                for h in ws.history
            ]
        )
