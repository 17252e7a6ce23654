"""The settle's first statement kept by the identity of the subscribers' reads
(locked.preload_statement) is preload_sql's, and follows a read added later."""

from __future__ import annotations

import pytest

from wallet import events
from wallet.betsy import locked

EXTRA = events.BetRead(name="test-extra", sql="SELECT 1 AS one WHERE {bet} > 0", width=1)


@pytest.mark.parametrize("step_id", [False, True])
def test_kept_statement_is_preload_sql(step_id: bool) -> None:
    reads = events.bet_reads()
    assert events.bet_reads() is reads  # the same tuple until a read is added
    for case in (reads, (), (*reads, EXTRA), (*reads, EXTRA)):  # the last: equal, not the same tuple
        assert locked.preload_statement(case, step_id) == locked.preload_sql(case, step_id)
        assert locked.preload_statement(case, step_id) == locked.preload_sql(case, step_id)  # kept


def test_a_read_added_later_is_in_the_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_bet_reads", dict(events._bet_reads))
    monkeypatch.setattr(events, "_bet_reads_now", events.bet_reads())
    before = events.bet_reads()
    locked.preload_statement(before)
    events.read_with_bet(EXTRA)
    after = events.bet_reads()
    assert after == (*before, EXTRA)
    assert "SELECT 1 AS one WHERE betsy_bet.id > 0" in locked.preload_statement(after)
    assert locked.preload_statement(after) == locked.preload_sql(after)
