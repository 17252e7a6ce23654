"""Load the rows a batch of messages needs into a Workspace, and write back what changed.

Runs inside the batch's transaction. Writers (consumers of several partitions, replays, the
simulator's direct mode) run in parallel: the domain decides staleness on rows it read, so
each batch locks the rows of *its* events (SELECT … FOR UPDATE, in id order) and the
producers whose alives or snapshot_complete it applies. There is no global lock: batches of
different events never wait for each other, and two writers of one event take turns.

The consumer keeps the market lines it has written in memory (MarketCache). Every batch that
changes an event's lines stamps the event with a random `writer_version`; a consumer trusts
its cached lines of an event only while the event still carries the version it saw last,
i.e. nobody else wrote them since. Any failure empties the cache.

On PostgreSQL the rows travel as one JSON document per statement (json_to_recordset: encoded
and parsed in C): existing lines are UPDATEd by primary key, new ones INSERTed (ON CONFLICT as
a backstop); the journal is COPYed. Elsewhere (SQLite in tests and the embedded demo) the ORM's
bulk operations do the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from itertools import compress, repeat
from operator import itemgetter, not_

from django.db import connection

from feeds.models import (
    BetCancel,
    Market,
    MarketChange,
    MarketSettlement,
    Producer,
    RecoveryRequest,
    SportEvent,
)
from feeds.protocol import messages as m
from feeds.protocol.producers import DEFAULT_WINDOW_MINUTES, KNOWN_PRODUCERS
from feeds.services.linecache import CACHE, MarketCache, _stamp_writer  # noqa: F401 - callers use store.CACHE
from feeds.services.rows import CancelRow, EventRow, MarketRow, SettlementRow, Workspace
from feeds.services.stage import STAGE_COLUMNS as _STAGE_COLUMNS
from feeds.services.stage import _stage_copy_data, _stage_copy_rows  # noqa: F401 - tests compare them
from feeds.services.writes import (  # noqa: F401 - callers use store.JournalRow, store._write_journal_pg
    _COPY_HEADER,
    _COPY_TRAILER,
    JournalRow,
    _b_bool,
    _b_i16,
    _b_i64,
    _b_text,
    _dumps,
    _dumps_fast,
    _flush_cancels,
    _flush_settlements,
    _pack_i64,
    _pack_len,
    _write_journal_orm,
    _write_journal_pg,
)

_FIRST, _SECOND = itemgetter(0), itemgetter(1)

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
    "writer_version",
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


def ensure_producers(ids: Iterable[int], known: set[int] | None = None) -> set[int]:
    """Create rows for producers seen for the first time; returns the ids now known to exist."""
    wanted = set(ids) - (known or set())
    if not wanted:
        return set(ids)
    existing = set(Producer.objects.filter(id__in=wanted).values_list("id", flat=True))
    missing = wanted - existing
    if missing:
        Producer.objects.bulk_create([producer_defaults(p) for p in sorted(missing)], ignore_conflicts=True)
    return set(ids)


_EVENTS_SQL = (
    f"SELECT id, urn, {', '.join(_EVENT_FIELDS)} FROM feeds_sportevent WHERE urn = ANY(%s) ORDER BY id FOR UPDATE"
)


def _load_events(ws: Workspace, urns: set[str]) -> None:
    """The batch's events, locked (a fixture being stored concurrently waits for us, and we for it)."""
    if not urns:
        return

    def fetch(where: set[str]) -> None:
        if connection.vendor == "postgresql":
            # Once per batch: raw SQL skips the ORM's query compilation (about 1-2 ms, which
            # is 50 us a message in the small batches of a steady 500 msg/s).
            with connection.cursor() as cursor:
                cursor.execute(_EVENTS_SQL, [sorted(where)])
                rows = cursor.fetchall()
            data = _EVENT_FIELDS.index("status_data") + 2
            rows = [
                (*r[:data], json.loads(r[data]) if isinstance(r[data], str) else r[data], *r[data + 1 :]) for r in rows
            ]
        else:
            rows = (
                SportEvent.objects.select_for_update()
                .filter(urn__in=where)
                .order_by("id")
                .values_list("id", "urn", *_EVENT_FIELDS)
            )
        for pk, urn, *values in rows:
            ws.events[urn] = EventRow(pk, urn, **dict(zip(_EVENT_FIELDS, values, strict=True)))

    fetch(urns)
    missing = urns - ws.events.keys()
    if missing:
        SportEvent.objects.bulk_create([SportEvent(urn=u) for u in sorted(missing)], ignore_conflicts=True)
        fetch(missing)


def _decode_outcomes(rows: list[tuple]) -> list[tuple]:
    """Raw cursor rows: Django's PostgreSQL backend hands jsonb over as text."""
    decode = json.loads
    return [(*r[:7], decode(r[7]) if isinstance(r[7], str) else r[7], *r[8:]) for r in rows]


def load(ws: Workspace, parsed: list[m.Message]) -> None:
    event_urns: set[str] = set()
    products: set[int] = set()
    locked_products: set[int] = set()
    full_events: set[str] = set()
    market_keys: set[tuple[str, int, str]] = set()
    stateful_keys: set[tuple[str, int, str]] = set()
    for msg in parsed:
        products.add(msg.product)
        # The usual message tested first, by its exact type: `A | B` builds a union on every test.
        odds = type(msg) is m.OddsChange
        if not odds and isinstance(msg, m.Alive | m.SnapshotComplete):
            locked_products.add(msg.product)
            continue
        event_urns.add(msg.event_urn)
        odds = odds or isinstance(msg, m.OddsChange)
        if (odds and msg.has_odds and not msg.markets and msg.betstop_reason is not None) or (
            not odds and isinstance(msg, m.BetStop)
        ):
            full_events.add(msg.event_urn)
        if odds:
            # (urn, id, specifiers) a market, built in C (no bytecode per market)
            market_keys.update(zip(repeat(msg.event_urn), map(_FIRST, msg.markets), map(_SECOND, msg.markets)))
        elif isinstance(msg, m.BetSettlement | m.BetCancel | m.RollbackBetSettlement | m.RollbackBetCancel):
            keys = {(msg.event_urn, mr.id, mr.specifiers) for mr in msg.markets}
            market_keys.update(keys)
            stateful_keys.update(keys)

    cache = ws.cache
    _load_events(ws, event_urns)
    valid = cache.valid_events(ws.events) if cache is not None else set()
    # The cached set of existing producers is trusted only while some cached event of this batch
    # proves the cache still describes this database (producer rows are never deleted).
    if cache is not None and not valid:
        cache.producers.clear()
    ws.known_producers = ensure_producers(products, cache.producers if cache is not None else None)
    if locked_products:
        # Events, then producers, each in id order, in every writer: no lock-order deadlock.
        for producer in Producer.objects.select_for_update().filter(id__in=locked_products).order_by("id"):
            ws.producers[producer.pk] = producer
    snapshots = [msg.request_id for msg in parsed if isinstance(msg, m.SnapshotComplete)]
    if snapshots and ws.consumer:
        from feeds.services.consumers import live_consumers

        ws.live_consumers = live_consumers(ws.now)
        for request in RecoveryRequest.objects.select_for_update().filter(id__in=snapshots).order_by("id"):
            ws.recoveries[request.pk] = request
    event_ids = {urn: e.pk for urn, e in ws.events.items()}
    urn_by_pk = {pk: urn for urn, pk in event_ids.items()}

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

    def add(rows: Iterable[tuple], *, fresh: bool = False) -> None:
        for pk, event_pk, market_id, specifiers, *rest in rows:
            urn = urn_by_pk[event_pk]
            key = (urn, market_id, specifiers)
            if key in ws.markets and not fresh:
                continue
            if urn not in full_events and key not in market_keys:
                continue
            ws.add_market(MarketRow(pk, event_pk, urn, market_id, specifiers, *rest))

    partial_keys = [k for k in market_keys if k[0] not in full_events] if full_events else list(market_keys)
    if cache is not None:
        lines, markets = cache.lines, ws.markets
        if len(valid) == len(ws.events):
            # The usual: every event's cached lines are still the database's. The batch's lines
            # looked up and added by C calls (Workspace.add_market's work: its per-event index
            # is built when first used).
            rows = list(map(lines.get, partial_keys))
            markets.update(compress(zip(partial_keys, rows, strict=True), rows))
            wanted = list(compress(partial_keys, map(not_, rows)))
        else:
            wanted = []
            for key in partial_keys:
                row = lines.get(key) if key[0] in valid else None
                if row is not None:
                    markets[key] = row
                else:
                    wanted.append(key)
        cache.hits += len(partial_keys) - len(wanted)
        cache.misses += len(wanted)
        partial_keys = wanted
    partial = {urn for urn, _, _ in partial_keys}
    if connection.vendor == "postgresql":
        # Exactly the lines the batch names (plus every line of events a bet_stop touches),
        # joined against the keys sent as one JSON parameter.
        keys = [{"e": event_ids[u], "m": mid, "s": spec} for u, mid, spec in partial_keys]
        select = ", ".join(f"m.{c}" for c in columns)
        with connection.cursor() as cursor:
            if full_events:
                cursor.execute(
                    f"SELECT {select} FROM feeds_market m WHERE m.event_id = ANY(%s)",
                    [[event_ids[u] for u in full_events]],
                )
                add(_decode_outcomes(cursor.fetchall()), fresh=True)
            if keys:
                cursor.execute(
                    f"SELECT {select} FROM feeds_market m JOIN json_to_recordset(%s::json) AS k(e bigint, m integer, s text)"
                    " ON m.event_id = k.e AND m.market_id = k.m AND m.specifiers = k.s",
                    [_dumps(keys)],
                )
                add(_decode_outcomes(cursor.fetchall()))
    else:
        if full_events:
            add(
                Market.objects.filter(event_id__in=[event_ids[u] for u in full_events]).values_list(*columns),
                fresh=True,
            )
        if partial:
            market_ids = {mid for _, mid, _ in partial_keys}
            add(
                Market.objects.filter(
                    event_id__in=[event_ids[u] for u in partial], market_id__in=market_ids
                ).values_list(*columns)
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


_EVENT_TYPES = {
    "sport_id": "integer",
    "status": "smallint",
    "match_status": "integer",
    "home_score": "varchar",
    "away_score": "varchar",
    "status_data": "jsonb",
    "status_ts": "bigint",
    "betting_status": "smallint",
    "betstop_reason": "smallint",
    "odds_ts": "bigint",
    "fixture_change_ts": "bigint",
    "fixture_change_type": "smallint",
    "scheduled": "timestamptz",
    "fixture_needed": "boolean",
    "writer_version": "bigint",
}


def _flush_events(ws: Workspace) -> None:
    dirty = [e for e in ws.events.values() if e.dirty]
    if not dirty:
        return
    if connection.vendor == "postgresql":
        # bulk_update() would build a CASE per column and row: one UPDATE … FROM json instead.
        rows = []
        for e in dirty:
            row = {name: getattr(e, name) for name in _EVENT_FIELDS}
            row["id"] = e.pk
            row["scheduled"] = e.scheduled.isoformat() if e.scheduled else None
            rows.append(row)
        record = ", ".join(f"{n} {_EVENT_TYPES[n]}" for n in _EVENT_FIELDS)
        sets = ", ".join(f"{n} = v.{n}" for n in _EVENT_FIELDS)
        sql = (
            f"UPDATE feeds_sportevent e SET {sets}, updated_at = %s "
            f"FROM json_to_recordset(%s::json) AS v(id bigint, {record}) WHERE e.id = v.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [ws.now, _dumps(rows)])
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


def _ensure_stage(cursor) -> None:
    """A temporary table per database session. Checked on every batch (a catalog lookup):
    creating it inside a transaction that then rolls back removes it again."""
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS feeds_market_stage (id bigint, extended_specifiers text, status smallint, "
        "producer_id smallint, outcomes text, favourite boolean, cashout_status smallint, next_betstop bigint, "
        "odds_ts bigint, last_ts bigint)"
    )


_ID_ARRAY_MAX_ROWS = 3000


def _flush_markets_pg(dirty: list[MarketRow], now: datetime) -> None:
    # psycopg's array adaptation of long JSON strings measured ~25x slower than these paths.
    types = dict(_MARKET_COLUMNS)
    existing = [r for r in dirty if r.pk is not None]
    new = [r for r in dirty if r.pk is None]
    with connection.cursor() as cursor:
        if existing:
            # Known lines: COPY into a session-local stage table, then one UPDATE by primary key
            # (cheaper than ON CONFLICT, and in place: HOT).
            _ensure_stage(cursor)
            # Emptied first, not ON COMMIT: an outer transaction (tests, admin) may span batches.
            cursor.execute("TRUNCATE feeds_market_stage")
            with cursor.cursor.copy(
                f"COPY feeds_market_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.write(_stage_copy_data(existing))
            sets = ", ".join(
                f"{c} = s.{c}::jsonb" if c == "outcomes" else f"{c} = s.{c}" for c in _STAGE_COLUMNS if c != "id"
            )
            where = "m.id = s.id"
            if len(existing) <= _ID_ARRAY_MAX_ROWS:
                # A small batch: the planner, not knowing the stage's size, hashes the whole
                # line table (a sequential scan: about 10 ms of server CPU per batch at 25k
                # lines). The ids as an array let it fetch just those lines by primary key.
                where += " AND m.id = ANY(ARRAY(SELECT id FROM feeds_market_stage))"
            cursor.execute(
                f"UPDATE feeds_market m SET {sets}, updated_at = %s FROM feeds_market_stage s WHERE {where}", [now]
            )
        if new:
            # New lines: one JSON document (C-encoded here, parsed by the server), upserted.
            names = [c for c, _ in _MARKET_COLUMNS if c != "updated_at"]
            rows = [dict(zip(names, _market_values(r, now)[:-1], strict=True)) for r in new]
            record = ", ".join(f"{c} {types[c]}" for c in names)
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _MARKET_UPDATE)
            cursor.execute(
                f"INSERT INTO feeds_market ({', '.join(names)}, updated_at) "
                f"SELECT {', '.join(names)}, %s FROM json_to_recordset(%s::json) AS r({record}) "
                f"ON CONFLICT (event_id, market_id, specifiers) DO UPDATE SET {updates} "
                "RETURNING id, event_id, market_id, specifiers",
                [now, _dumps(rows)],
            )
            ids = {(e, mid, spec): pk for pk, e, mid, spec in cursor.fetchall()}
            for row in new:
                row.pk = ids[(row.event_pk, row.market_id, row.specifiers)]


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


def flush(ws: Workspace, journal: list[JournalRow]) -> None:
    """Write everything the workspace changed, then the journal rows and the history."""
    _stamp_writer(ws)
    _flush_events(ws)
    _flush_markets(ws)
    _flush_settlements(ws)
    _flush_cancels(ws)
    for pk in sorted(ws.dirty_producers):
        ws.producers[pk].save(update_fields=_PRODUCER_FIELDS)
    for pk in sorted(ws.dirty_recoveries):
        ws.recoveries[pk].save(update_fields=["snapshot_by"])
    if ws.recovery_activity:
        RecoveryRequest.objects.filter(id__in=ws.recovery_activity).update(last_activity_at=ws.now)
    if ws.completed_requests:
        RecoveryRequest.objects.filter(
            id__in=ws.completed_requests,
            status__in=[RecoveryRequest.Status.PENDING, RecoveryRequest.Status.ACCEPTED],
        ).update(status=RecoveryRequest.Status.COMPLETED, completed_at=ws.now)
    if journal:
        if connection.vendor == "postgresql":
            _write_journal_pg(journal)
        else:
            _write_journal_orm(journal)
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
