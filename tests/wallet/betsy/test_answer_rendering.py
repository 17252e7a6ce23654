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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _now_as_datetime(ns: int) -> datetime:
    """The datetime `datetime.now(UTC)` gives at the instant `time.time_ns()` reads `ns` (it
    floors the clock to the microsecond)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _instants() -> list[int]:
    rng = random.Random(1812)
    start = 1_798_761_598_999_000_000  # 2026-12-31T23:59:58.999Z
    instants, ns = [], start
    for _ in range(400):  # forwards across seconds, a day, a month and a year, by odd steps
        ns += rng.choice([0, 1, 999, 1_000, 999_999, 1_000_000, 1_000_001, 250_000_000, 999_999_999])
        instants.append(ns)
    instants += [start, start, start - 1, start // 10**9 * 10**9, start // 10**9 * 10**9 - 1]  # backwards, repeats
    instants += [0, 999_999_999, 1_000_000_000, 946_684_799_999_999_999, 4_102_444_800_000_000_000]
    return instants


def test_the_answer_s_time_from_the_clock_is_format_time_s():
    for ns in _instants():
        assert (
            protocol.format_time_ns(ns) == protocol.format_time(_now_as_datetime(ns)) == _iso(_now_as_datetime(ns))
        ), ns


def test_the_clock_s_second_memory_is_one_slot_replaced_whole():
    ns = 1_777_636_800_123_456_789  # 2026-05-01T12:00:00.123456789Z
    assert protocol.format_time_ns(ns) == "2026-05-01T12:00:00.123Z"
    assert protocol.format_time_ns(ns + 365 * 86_400 * 10**9) == "2027-05-01T12:00:00.123Z"  # not the same second
    assert protocol.format_time_ns(ns - 123_000_000) == "2026-05-01T12:00:00.000Z"
    assert protocol.format_time_ns(ns - 123_456_790) == "2026-05-01T11:59:59.999Z"  # the nanosecond before
    assert protocol._epoch_second[0] == (1_777_636_799, "2026-05-01T11:59:59")


@pytest.mark.parametrize("transaction_id", ["1", "123456789", "S45", "", "ü1", 'a"b', "a\\b"])
def test_the_success_body_is_render_transaction_s_at_the_clock_s_instant(monkeypatch, transaction_id):
    from wallet.betsy import answers

    ns = 1_777_636_800_007_999_999
    monkeypatch.setattr(answers, "time_ns", lambda: ns)
    expected = protocol.render_transaction(transaction_id, _now_as_datetime(ns)).decode()
    assert answers.success(transaction_id) == expected
    assert json.loads(expected)["transactionTime"] == "2026-05-01T12:00:00.007Z"
