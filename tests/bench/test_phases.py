"""bench/callback_phases.py: which callback a request is, and the pieces' CPU with the clock's
own reads taken off (a fake clock, so the arithmetic is exact)."""

from __future__ import annotations

import pytest

from bench.callback_phases import Pieces, _kind


class FakeClock:
    """Each read costs `read` seconds; `work(s)` is CPU spent by the code being timed."""

    def __init__(self, read: float) -> None:
        self.now, self.read = 0.0, read

    def __call__(self) -> float:
        # The read's cost falls half before and half after the value it returns.
        self.now += self.read / 2
        value = self.now
        self.now += self.read / 2
        return value

    def work(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("method", "path", "body", "kind"),
    [
        ("POST", "/api/igpx/transaction", b'{"action":"bet"}', "igpx bet"),
        ("POST", "/api/igpx/transaction", b'{"action":"result"}', "igpx result"),
        ("POST", "/api/betsy/payment/bet", b"{}", "betsy place"),
        ("PUT", "/api/betsy/payment/bet", b"{}", "betsy settle"),
        ("POST", "/api/operator/players/", b"{}", None),
    ],
)
def test_a_request_is_counted_as_its_callback_kind(method, path, body, kind):
    assert _kind(method, path, body) == kind


def test_each_piece_is_its_own_cpu_without_the_clock_reads_of_any_wrapper():
    clock = FakeClock(read=0.001)
    pieces = Pieces(clock, read_cost=0.001)
    inner = pieces.timed("inner", lambda: clock.work(0.010))

    def outer_body() -> None:
        clock.work(0.020)
        inner()
        inner()

    outer = pieces.timed("outer", outer_body)
    pieces.request("betsy settle", lambda: (clock.work(0.005), outer()))
    pieces.request("betsy settle", lambda: clock.work(0.005))
    figures = pieces.figures()["betsy settle"]
    # Per callback, two callbacks: inner 2 x 10 ms in the first; outer 20 + 20 ms; total 45 + 5 ms.
    assert figures["inner"] == pytest.approx([10_000.0, 1.0])
    assert figures["outer"] == pytest.approx([20_000.0, 0.5])
    assert figures["TOTAL"] == pytest.approx([25_000.0, 1.0])


def test_the_wrappers_pass_through_outside_a_timed_callback():
    pieces = Pieces(FakeClock(read=0.001), read_cost=0.001)
    assert pieces.timed("piece", lambda x: x + 1)(1) == 2
    assert pieces.figures() == {}
