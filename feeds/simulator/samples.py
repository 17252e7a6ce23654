"""The UOF sample messages the simulator publishes and its fake API serves (byte-identical copies
of tests/fixtures/uof), and the routing key a producer would publish a message body with.
"""

from __future__ import annotations

import time
from pathlib import Path

from feeds.protocol.messages import parse_message
from feeds.protocol.producers import KNOWN_PRODUCERS
from feeds.protocol.routing import build_routing_key

SIMDATA = Path(__file__).resolve().parent.parent / "simdata" / "uof"
FEED_SAMPLES = (
    "fixture_change_1.xml",
    "odds_change_1.xml",
    "odds_change_2.xml",
    "odds_change_3.xml",
    "odds_change_4.xml",
    "odds_change_5.xml",
    "bet_stop_1.xml",
    "bet_stop_2.xml",
    "bet_settlement_1.xml",
    "bet_settlement_2.xml",
    "bet_settlement_3.xml",
    "bet_cancel_1.xml",
    "bet_cancel_2.xml",
    "rollback_bet_cancel_1.xml",
    "rollback_bet_cancel_2.xml",
    "rollback_bet_settlement_1.xml",
    "rollback_bet_settlement_2.xml",
    "alive_1.xml",
    "alive_2.xml",
    "snapshot_complete_1.xml",
)


def now_ms() -> int:
    return int(time.time() * 1000)


def sample_bytes(name: str) -> bytes:
    return (SIMDATA / name).read_bytes()


def routing_key_for(body: bytes, *, node_id: int | None = None, sport_id: int | None = 1) -> str:
    """A plausible routing key for a message body (sample replays, files)."""
    msg = parse_message(body)
    scope = KNOWN_PRODUCERS.get(msg.product)
    event_urn = getattr(msg, "event_urn", None)
    system = msg.kind in ("alive", "snapshot_complete")
    return build_routing_key(
        message_type=msg.kind,
        prematch=bool(scope and "prematch" in scope.scope and not system),
        virtual=bool(scope and scope.scope == "virtual" and not system),
        live=bool(scope and "live" in scope.scope and not system),
        sport_id=None if system else sport_id,
        event_urn=event_urn,
        node_id=node_id if getattr(msg, "request_id", None) is not None else None,
    )
