"""The market lines' stage COPY packed by column (feeds.services.stage): the same bytes as the
row-at-a-time packing, for the usual lines and every other kind (which take that path)."""

from __future__ import annotations

from feeds.services import stage
from feeds.services.state import MarketRow


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
