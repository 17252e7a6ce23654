"""Feed test helpers: sample messages and message builders in the UOF wire format."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from feeds.services.ingest import Incoming, apply_batch

# The UOF sample messages as collected (provenance in SOURCES.md); feeds/simdata/uof holds the
# demo's byte-identical copies.
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "uof"
TOKEN = "test-token"


def sample(name: str) -> bytes:
    """A UOF sample message from tests/fixtures/uof."""
    return (FIXTURES / name).read_bytes()


def apply(*bodies: bytes | str, routing_key: str = ""):
    """Apply messages in one batch; returns the per-message outcomes."""
    items = [Incoming(body=b.encode() if isinstance(b, str) else b, routing_key=routing_key) for b in bodies]
    return apply_batch(items).outcomes


def apply_each(*bodies: bytes | str):
    """Apply messages one batch each (the consumer's worst case)."""
    return [apply(b)[0] for b in bodies]


# --- builders (the wire format, kept close to Sportradar's samples) -------------------------------------


def odds_change(
    event="sr:match:1", ts=1000, product=1, markets=(), request_id=None, status=None, betstop_reason=None
) -> str:
    """markets: (id, specifiers, status, {outcome: odds or None for inactive})."""
    rid = f' request_id="{request_id}"' if request_id is not None else ""
    parts = [f'<odds_change product="{product}" event_id="{event}" timestamp="{ts}"{rid}>']
    if status is not None:
        parts.append(
            f'<sport_event_status status="{status[0]}" match_status="{status[1]}" home_score="{status[2]}" away_score="{status[3]}"/>'
        )
    bsr = f' betstop_reason="{betstop_reason}"' if betstop_reason is not None else ""
    parts.append(f"<odds{bsr}>")
    for market_id, specifiers, mstatus, outcomes in markets:
        spec = f' specifiers="{specifiers}"' if specifiers else ""
        inner = "".join(
            f'<outcome id="{oid}" odds="{odds}" active="1"/>'
            if odds is not None
            else f'<outcome id="{oid}" active="0"/>'
            for oid, odds in outcomes.items()
        )
        parts.append(f'<market id="{market_id}"{spec} status="{mstatus}">{inner}</market>')
    parts.append("</odds></odds_change>")
    return "".join(parts)


def bet_stop(event="sr:match:1", ts=1000, product=1, groups="all", market_status=None) -> str:
    ms = f' market_status="{market_status}"' if market_status is not None else ""
    return f'<bet_stop groups="{groups}"{ms} product="{product}" event_id="{event}" timestamp="{ts}"/>'


def settlement(event="sr:match:1", ts=2000, product=1, certainty=2, markets=()) -> str:
    """markets: (id, specifiers, {outcome: result or (result, void_factor, dead_heat_factor)})."""
    cert = f' certainty="{certainty}"' if certainty is not None else ""
    parts = [f'<bet_settlement{cert} product="{product}" event_id="{event}" timestamp="{ts}"><outcomes>']
    for market_id, specifiers, outcomes in markets:
        spec = f' specifiers="{specifiers}"' if specifiers else ""
        parts.append(f'<market id="{market_id}"{spec}>')
        for oid, value in outcomes.items():
            result, void, dh = value if isinstance(value, tuple) else (value, None, None)
            extra = (f' void_factor="{void}"' if void else "") + (f' dead_heat_factor="{dh}"' if dh else "")
            parts.append(f'<outcome id="{oid}" result="{result}"{extra}/>')
        parts.append("</market>")
    parts.append("</outcomes></bet_settlement>")
    return "".join(parts)


def _refs(markets) -> str:
    parts = []
    for market in markets:
        market_id, specifiers, *rest = market
        outcomes = rest[0] if rest else ()
        spec = f' specifiers="{specifiers}"' if specifiers else ""
        inner = "".join(f'<outcome id="{o}"/>' for o in outcomes)
        parts.append(
            f'<market id="{market_id}"{spec} void_reason="12">{inner}</market>'
            if inner
            else f'<market id="{market_id}"{spec} void_reason="12"/>'
        )
    return "".join(parts)


def _window(start, end) -> str:
    return (f' start_time="{start}"' if start is not None else "") + (f' end_time="{end}"' if end is not None else "")


def rollback_settlement(event="sr:match:1", ts=3000, product=1, markets=()) -> str:
    return f'<rollback_bet_settlement product="{product}" event_id="{event}" timestamp="{ts}">{_refs(markets)}</rollback_bet_settlement>'


def bet_cancel(event="sr:match:1", ts=3000, product=1, markets=(), start=None, end=None) -> str:
    return f'<bet_cancel product="{product}" event_id="{event}" timestamp="{ts}"{_window(start, end)}>{_refs(markets)}</bet_cancel>'


def rollback_cancel(event="sr:match:1", ts=4000, product=1, markets=(), start=None, end=None) -> str:
    return f'<rollback_bet_cancel product="{product}" event_id="{event}" timestamp="{ts}"{_window(start, end)}>{_refs(markets)}</rollback_bet_cancel>'


def alive(product=1, ts=None, subscribed=1) -> str:
    ts = ts if ts is not None else int(time.time() * 1000)
    return f'<alive product="{product}" timestamp="{ts}" subscribed="{subscribed}"/>'


def snapshot_complete(request_id: int, product=1, ts=None) -> str:
    ts = ts if ts is not None else int(time.time() * 1000)
    return f'<snapshot_complete request_id="{request_id}" product="{product}" timestamp="{ts}"/>'


def rabbitmq_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False
