"""Writes of feeds.services.store.flush besides the market lines: the journal (feeds_feedmessage),
settlements and cancels; and the binary COPY packing the journal and the lines' stage use.

Rows are packed here, not through psycopg's write_row (a Python call and a dumper lookup per
value): the whole payload goes over in one write. Binary, so bodies travel as raw bytes rather
than hex and nothing needs escaping. feeds.services.store uses the helpers for the market
lines' stage table.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from json.encoder import c_make_encoder, encode_basestring
from typing import Any

from django.db import connection

from feeds.models import BetCancel, FeedMessage, MarketSettlement
from feeds.services.rows import Workspace

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# The C encoder behind json.dumps, built once: JSONEncoder.encode builds a new one per call
# (about a third of its cost for a market's small outcomes dict). Same output as _dumps.
_c_encode = (
    c_make_encoder(None, None, encode_basestring, None, ":", ",", False, False, False)
    if c_make_encoder is not None
    else None
)


def _dumps_fast(value: object) -> str:
    if _c_encode is None:
        return _dumps(value)
    return "".join(_c_encode(value, 0))


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_pack_i16 = struct.Struct(">ih").pack
_pack_i32 = struct.Struct(">ii").pack
_pack_i64 = struct.Struct(">iq").pack
_pack_len = struct.Struct(">i").pack
_TRUE, _FALSE = struct.pack(">ib", 1, 1), struct.pack(">ib", 1, 0)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _b_i16(value: int | None) -> bytes:
    return _NULL if value is None else _pack_i16(2, value)


def _b_i32(value: int | None) -> bytes:
    return _NULL if value is None else _pack_i32(4, value)


def _b_i64(value: int | None) -> bytes:
    return _NULL if value is None else _pack_i64(8, value)


def _b_text(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode()
    return _pack_len(len(data)) + data


def _b_bool(value: bool | None) -> bytes:
    return _NULL if value is None else (_TRUE if value else _FALSE)


def _b_timestamptz(value: datetime | None) -> bytes:
    if value is None:
        return _NULL
    return _pack_i64(8, (value - _PG_EPOCH) // _MICROSECOND)


@dataclass(slots=True)
class JournalRow:
    """One feed message for the journal (feeds_feedmessage): a plain object, a model instance
    costs several times more to build and the batch path never needs one."""

    routing_key: str
    kind: str
    product: int | None
    event_urn: str
    message_ts: int | None
    request_id: int | None
    body: bytes
    body_size: int
    source: str
    received_at: datetime
    applied_at: datetime | None
    outcome: str
    reason: str
    replay_of_id: int | None
    pk: int | None = None

    def to_model(self) -> FeedMessage:
        return FeedMessage(
            pk=self.pk,
            routing_key=self.routing_key,
            kind=self.kind,
            product=self.product,
            event_urn=self.event_urn,
            message_ts=self.message_ts,
            request_id=self.request_id,
            body=self.body,
            body_size=self.body_size,
            source=self.source,
            received_at=self.received_at,
            applied_at=self.applied_at,
            outcome=self.outcome,
            reason=self.reason,
            replay_of_id=self.replay_of_id,
        )


_JOURNAL_COLUMNS = (
    "id",
    "routing_key",
    "kind",
    "product",
    "event_urn",
    "message_ts",
    "request_id",
    "body",
    "body_size",
    "source",
    "received_at",
    "applied_at",
    "outcome",
    "reason",
    "replay_of_id",
)
_JOURNAL_FIELD_COUNT = struct.pack(">h", len(_JOURNAL_COLUMNS))


def _journal_copy_data(journal: list[JournalRow]) -> bytes:
    # The body (most of the bytes) is its own piece of the one final join: joining each row
    # first and concatenating its length copied every body three times. The text fields that
    # repeat within a batch (routing keys, kinds, events, sources, outcomes) and its times are
    # packed once (a helper call a field was most of the packing).
    parts = [_COPY_HEADER]
    extend = parts.extend
    texts: dict[str, bytes] = {}
    stamps: dict[datetime | None, bytes] = {None: _NULL}  # received and applied: the batch's time
    text, stamp = texts.get, stamps.get
    for row in journal:
        body = bytes(row.body)
        extend(
            (
                _JOURNAL_FIELD_COUNT,
                _pack_i64(8, row.pk),
                text(row.routing_key) or _cached(texts, _b_text, row.routing_key),
                text(row.kind) or _cached(texts, _b_text, row.kind),
                _b_i16(row.product),
                text(row.event_urn) or _cached(texts, _b_text, row.event_urn),
                _b_i64(row.message_ts),
                _NULL if row.request_id is None else _pack_i64(8, row.request_id),
                _pack_len(len(body)),
                body,
                _pack_i32(4, row.body_size),
                text(row.source) or _cached(texts, _b_text, row.source),
                stamp(row.received_at) or _cached(stamps, _b_timestamptz, row.received_at),
                stamp(row.applied_at) or _cached(stamps, _b_timestamptz, row.applied_at),
                text(row.outcome) or _cached(texts, _b_text, row.outcome),
                _b_text(row.reason),
                _NULL if row.replay_of_id is None else _pack_i64(8, row.replay_of_id),
            )
        )
    parts.append(_COPY_TRAILER)
    return b"".join(parts)


def _cached(cache: dict[Any, bytes], pack: Callable[[Any], bytes], value: Any) -> bytes:
    """`pack(value)`, kept in `cache` for the batch's next row with the same value."""
    packed = cache[value] = pack(value)
    return packed


def _write_journal_pg(journal: list[JournalRow]) -> None:
    """COPY the journal rows (raw bodies are most of the bytes written), ids drawn first so
    that history rows can point at them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('feeds_feedmessage', 'id')) FROM generate_series(1, %s)",
            [len(journal)],
        )
        for row, (pk,) in zip(journal, cursor.fetchall(), strict=True):
            row.pk = pk
        with cursor.cursor.copy(
            f"COPY feeds_feedmessage ({', '.join(_JOURNAL_COLUMNS)}) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.write(_journal_copy_data(journal))


def _write_journal_orm(journal: list[JournalRow]) -> None:
    objs = [row.to_model() for row in journal]
    FeedMessage.objects.bulk_create(objs)
    for row, obj in zip(journal, objs, strict=True):
        row.pk = obj.pk


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
