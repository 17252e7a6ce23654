"""The market lines' stage COPY packed by column (feeds.services.stage): the same bytes as the
row-at-a-time packing, for the usual lines and every other kind (which take that path); the
journal's COPY with its repeated fields packed once: the same bytes as field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feeds.services import stage, writes
from feeds.services.rows import MarketRow


def _row(pk: int, **kw) -> MarketRow:
    row = MarketRow(pk=pk, event_pk=1, event_urn="sr:match:1", market_id=18, specifiers="total=2.5")
    row.status, row.producer_id, row.favourite, row.odds_ts, row.last_ts = 1, 1, pk % 2 == 0, 1000 + pk, 2000 + pk
    row.outcomes = {"12": {"odds": "1.85", "active": True, "prob": "0.48"}, "13": {"odds": "1.95", "active": False}}
    if pk % 3:
        row.outcomes_json = '{"12":{"odds":"1.85","active":true,"prob":"0.48"}}'  # the fast path's text
    for name, value in kw.items():
        setattr(row, name, value)
    return row


def test_usual_lines_pack_as_a_row_at_a_time():
    rows = [_row(pk) for pk in range(1, 40)]
    rows += [_row(5, status=-1), _row(6, producer_id=3), _row(2**40, odds_ts=2**50, last_ts=2**50)]
    for batch in (rows, rows[:1], rows[::-1]):
        assert stage._stage_copy_data(batch) == stage._stage_copy_rows(batch)
    # Cached heads are keyed by id, status and producer: a changed status packs anew.
    assert stage._stage_copy_data([_row(7, status=0)]) == stage._stage_copy_rows([_row(7, status=0)])


def test_other_lines_take_the_row_path_with_the_same_bytes():
    usual = [_row(pk) for pk in range(1, 5)]
    for odd in (
        _row(9, extended_specifiers="x=1"),
        _row(9, cashout_status=1),
        _row(9, next_betstop=1700000000000),
        _row(9, producer_id=None),
    ):
        batch = [*usual, odd]
        assert stage._stage_copy_data(batch) == stage._stage_copy_rows(batch)
    assert stage._stage_copy_data([]) == stage._stage_copy_rows([])


def _journal_row_bytes(row: writes.JournalRow) -> bytes:
    """One journal row of the COPY, field by field (the binary format's definition)."""
    text, i16, i64, stamp = writes._b_text, writes._b_i16, writes._b_i64, writes._b_timestamptz
    packs = {"routing_key": text, "kind": text, "product": i16, "event_urn": text, "message_ts": i64}
    packs |= {"request_id": i64, "body": lambda body: writes._pack_len(len(body)) + bytes(body)}
    packs |= {"body_size": writes._b_i32, "source": text, "received_at": stamp, "applied_at": stamp}
    packs |= {"outcome": text, "reason": text, "replay_of_id": i64}
    assert ["id", *packs] == list(writes._JOURNAL_COLUMNS)
    fields = [i64(row.pk)] + [pack(getattr(row, name)) for name, pack in packs.items()]
    return writes._JOURNAL_FIELD_COUNT + b"".join(fields)


def test_the_journal_packs_its_repeated_fields_once_with_the_same_bytes():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        writes.JournalRow(
            routing_key=f"hi.-.live.odds_change.1.sr:match.{i % 3}.-",
            kind=("odds_change", "bet_stop", "")[i % 3],
            product=None if i % 7 == 0 else i % 4,
            event_urn=f"sr:match:{i % 5}" if i % 4 else "",
            message_ts=None if i % 11 == 0 else 1_700_000_000_000 + i,
            request_id=None if i % 2 else i,
            body=b"<x/>" * i if i % 5 else memoryview(b"\xff\x00<y/>"),
            body_size=4 * i,
            source=("amqp", "replay")[i % 2],
            received_at=now + timedelta(seconds=i % 2),
            applied_at=None if i % 9 == 0 else now,
            outcome=("applied", "rejected", "duplicate")[i % 3],
            reason="r" * (i % 4) + "é",
            replay_of_id=None if i % 3 else i,
            pk=i + 1,
        )
        for i in range(60)
    ]
    for batch in (rows, rows[:1], rows[::-1], []):
        expected = writes._COPY_HEADER + b"".join(map(_journal_row_bytes, batch)) + writes._COPY_TRAILER
        assert writes._journal_copy_data(batch) == expected
