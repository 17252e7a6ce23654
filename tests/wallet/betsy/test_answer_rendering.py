"""The success body is written directly, its time from a per-second memory (issue #18): the
bytes must be what the general renderer and datetime's own isoformat give."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from wallet.betsy import protocol


def _iso(moment: datetime) -> str:
    """format_time as it was."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _moments() -> list[datetime]:
    rng = random.Random(18)
    start = datetime(2026, 12, 31, 23, 59, 58, 999_000, tzinfo=UTC)
    steps = [timedelta(microseconds=rng.choice([0, 1, 999, 1000, 250_000, 999_999])) for _ in range(300)]
    moments, moment = [], start
    for step in steps:  # forwards, across seconds, minutes, a day, a month and a year
        moment += step
        moments.append(moment)
    moments += [start, start, start.replace(microsecond=0), start.replace(microsecond=999_999)]  # backwards, repeats
    moments += [m.astimezone(timezone(timedelta(hours=h))) for h in (-5, 0, 3) for m in moments[:20]]
    moments += [datetime(2026, 1, 1, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]
    return moments


def test_the_time_is_datetime_s_own_isoformat():
    for moment in _moments():
        assert protocol.format_time(moment) == _iso(moment), moment


def test_the_second_s_memory_is_one_slot_replaced_whole():
    first = datetime(2026, 5, 1, 12, 0, 0, 123_456, tzinfo=UTC)
    assert protocol.format_time(first) == "2026-05-01T12:00:00.123Z"
    assert protocol.format_time(first.replace(year=2027)) == "2027-05-01T12:00:00.123Z"  # not the same second
    assert protocol.format_time(first.replace(microsecond=999)) == "2026-05-01T12:00:00.000Z"
    assert protocol._second[0][0] == (0, 0, 12, 1, 5, 2026)


@pytest.mark.parametrize("transaction_id", ["1", "123456789", "S45", "B1", "R0", "", "ü1", 'a"b', "x y", "a\\b", "①"])
def test_the_success_body_is_the_general_renderer_s(transaction_id):
    moment = datetime(2026, 5, 1, 12, 0, 0, 7_000, tzinfo=UTC)
    expected = protocol.dumps({"transactionId": transaction_id, "transactionTime": _iso(moment)})
    assert protocol.render_transaction(transaction_id, moment) == expected
    assert json.loads(expected)["transactionId"] == transaction_id
