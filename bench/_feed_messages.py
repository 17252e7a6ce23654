"""The bench's odds_change bodies (bench/feed_ingest.py, bench/feeds_phases.py, tests).

`make_messages`: every message names 10-50 of an event's lines and moves every odds (the
bench's message). `make_mix_messages`: the realistic mix, where an event's message re-sends
all of its lines and only a few of them moved since the last one (the rest byte for byte as
before).
"""

from __future__ import annotations

import random

TS_PLACEHOLDER = b"9999999999999"


def market_book(rng: random.Random) -> list[tuple[int, str, tuple[str, ...]]]:
    """About 60 lines an event offers (ids and outcome ids from the real descriptions)."""
    book: list[tuple[int, str, tuple[str, ...]]] = [
        (1, "", ("1", "2", "3")), (10, "", ("9", "10", "11")), (11, "", ("4", "5")), (29, "", ("74", "76")),
        (26, "", ("70", "72")), (60, "", ("1", "2", "3")), (83, "", ("1", "2", "3")),
    ]  # fmt: skip
    for total in ("0.5", "1.5", "2.5", "3.5", "4.5", "5.5", "6.5"):
        book.append((18, f"total={total}", ("12", "13")))
        book.append((68, f"total={total}", ("12", "13")))
    for hcp in ("-2.5", "-1.5", "-0.5", "0.5", "1.5", "2.5"):
        book.append((16, f"hcp={hcp}", ("1714", "1715")))
    for hcp in ("0:1", "0:2", "1:0", "2:0"):
        book.append((14, f"hcp={hcp}", ("1711", "1712", "1713")))
    for goal in range(1, 8):
        book.append((8, f"goalnr={goal}", ("6", "7", "8")))
    for score in ("0:0", "1:0", "0:1", "1:1", "2:1", "1:2", "2:2"):
        book.append((7, f"score={score}", ("1", "2", "3")))
    for total in ("0.5", "1.5", "2.5"):
        book.append((19, f"total={total}", ("12", "13")))
        book.append((20, f"total={total}", ("12", "13")))
    return book


def _market_xml(market_id: int, specifiers: str, inner: str) -> str:
    spec = f' specifiers="{specifiers}"' if specifiers else ""
    return f'<market favourite="1" status="1" id="{market_id}"{spec}>{inner}</market>'


def _outcomes_xml(rng: random.Random, outcomes: tuple[str, ...]) -> str:
    return "".join(
        f'<outcome id="{o}" odds="{rng.uniform(1.05, 12):.2f}" probabilities="{rng.random():.6f}" active="1"/>'
        for o in outcomes
    )


def _head(event_id: int, i: int) -> str:
    return (
        f'<odds_change product="1" event_id="sr:match:{event_id}" timestamp="{TS_PLACEHOLDER.decode()}">'
        f'<sport_event_status status="1" reporting="1" match_status="6" home_score="{i % 3}" away_score="{i % 2}">'
        f'<clock match_time="{i % 45}:00"/></sport_event_status><odds>'
    )


def _message(event_id: int, body: str, sport: int = 1) -> tuple[str, bytes]:
    return (f"hi.-.live.odds_change.{sport}.sr:match.{event_id}.-", (body + "</odds></odds_change>").encode())


def make_messages(n: int, events: int, seed: int = 1, sports: tuple[int, ...] = (1,)) -> list[tuple[str, bytes]]:
    """Each message names 10-50 of the book's lines, every odds new. An event's sport (in the
    routing key, which is what consumers bound by sport select on) is sports[event % len]."""
    rng = random.Random(seed)
    book = market_book(rng)
    out = []
    for i in range(n):
        event_id = 80_000_000 + rng.randrange(events)
        lines = rng.sample(book, rng.randint(10, 50))
        markets = "".join(_market_xml(mid, spec, _outcomes_xml(rng, outs)) for mid, spec, outs in lines)
        out.append(_message(event_id, _head(event_id, i) + markets, sports[event_id % len(sports)]))
    return out


def make_mix_messages(n: int, events: int, lines: int = 30, moved: int = 3, seed: int = 1) -> list[tuple[str, bytes]]:
    """Each message re-sends all `lines` lines of its event (drawn once per event); `moved` of
    them have new odds, the others the same text as in the event's previous message."""
    rng = random.Random(seed)
    book = market_book(rng)
    current: dict[int, list[tuple[int, str, tuple[str, ...], str]]] = {}
    out = []
    for i in range(n):
        event_id = 80_000_000 + rng.randrange(events)
        event_lines = current.get(event_id)
        if event_lines is None:
            event_lines = [(mid, spec, outs, _outcomes_xml(rng, outs)) for mid, spec, outs in rng.sample(book, lines)]
        else:
            for k in rng.sample(range(lines), moved):
                mid, spec, outs, _ = event_lines[k]
                event_lines[k] = (mid, spec, outs, _outcomes_xml(rng, outs))
        current[event_id] = event_lines
        markets = "".join(_market_xml(mid, spec, inner) for mid, spec, _, inner in event_lines)
        out.append(_message(event_id, _head(event_id, i) + markets))
    return out
