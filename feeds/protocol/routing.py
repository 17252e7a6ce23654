"""AMQP routing keys of the unifiedfeed exchange, and the binding patterns we subscribe with.

Key: <hi|lo|->.<pre|virt|->.<live|->.<message_type>.<sport_id|->.<urn_type|->.<event_id|->.<node_id|->
e.g. hi.pre.-.odds_change.1.sr:match.1234.-  and  -.-.-.alive.-.-.-.-
The URN 'sr:match:1234' is split into 'sr:match' and '1234'. Node ids may be negative.
We dispatch on the XML root element, not on the key's type token (the docs' tokens differ
from the wire), but the key carries the sport id, which the XML does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from feeds.protocol.errors import InvalidRoutingKey

# Type tokens from the docs mapped to the element names the wire actually uses.
TYPE_ALIASES = {
    "cancelbet": "bet_cancel",
    "rollback_betsettlement": "rollback_bet_settlement",
    "rollback_cancelbet": "rollback_bet_cancel",
}

SYSTEM_TYPES = ("alive", "snapshot_complete")
LOW_PRIORITY = ("bet_settlement", "rollback_bet_settlement", "rollback_bet_cancel")


@dataclass(frozen=True, slots=True)
class RoutingKey:
    priority: str | None  # 'hi', 'lo' or None
    prematch: bool
    virtual: bool
    live: bool
    message_type: str
    sport_id: int | None
    event_urn: str | None
    node_id: int | None

    def __str__(self) -> str:
        return build_routing_key(
            message_type=self.message_type,
            priority=self.priority,
            prematch=self.prematch,
            virtual=self.virtual,
            live=self.live,
            sport_id=self.sport_id,
            event_urn=self.event_urn,
            node_id=self.node_id,
        )


def _int_or_none(section: str, what: str, key: str) -> int | None:
    if section == "-":
        return None
    try:
        return int(section)
    except ValueError:
        raise InvalidRoutingKey(f"{what} {section!r} is not a number in {key!r}") from None


def parse_routing_key(key: str) -> RoutingKey:
    sections = key.split(".")
    if len(sections) != 8:
        raise InvalidRoutingKey(f"expected 8 sections, got {len(sections)} in {key!r}")
    priority, pre, live, message_type, sport, urn_type, event_id, node = sections
    if priority not in ("hi", "lo", "-"):
        raise InvalidRoutingKey(f"priority {priority!r} in {key!r}")
    if pre not in ("pre", "virt", "-") or live not in ("live", "-"):
        raise InvalidRoutingKey(f"scope sections {pre!r}.{live!r} in {key!r}")
    if not message_type or message_type == "-":
        raise InvalidRoutingKey(f"no message type in {key!r}")
    event_urn = None
    if urn_type != "-" and event_id != "-":
        event_urn = f"{urn_type}:{event_id}"
    return RoutingKey(
        priority=None if priority == "-" else priority,
        prematch=pre == "pre",
        virtual=pre == "virt",
        live=live == "live",
        message_type=TYPE_ALIASES.get(message_type, message_type),
        sport_id=_int_or_none(sport, "sport id", key),
        event_urn=event_urn,
        node_id=_int_or_none(node, "node id", key),
    )


def build_routing_key(
    *,
    message_type: str,
    priority: str | None = None,
    prematch: bool = False,
    virtual: bool = False,
    live: bool = False,
    sport_id: int | None = None,
    event_urn: str | None = None,
    node_id: int | None = None,
) -> str:
    """The key a producer would publish with (used by the simulator and by replays of files)."""
    if priority is None and message_type not in SYSTEM_TYPES:
        priority = "lo" if message_type in LOW_PRIORITY else "hi"
    urn_type, event_id = "-", "-"
    if event_urn:
        urn_type, _, event_id = event_urn.rpartition(":")
        if not urn_type:
            raise InvalidRoutingKey(f"event URN {event_urn!r} has no type")
    return ".".join(
        [
            priority or "-",
            "pre" if prematch else ("virt" if virtual else "-"),
            "live" if live else "-",
            message_type,
            "-" if sport_id is None else str(sport_id),
            urn_type,
            event_id,
            "-" if node_id is None else str(node_id),
        ]
    )


# Binding presets: the first sections of the key; the rest is padded with '*'.
# System messages (alive, snapshot_complete) carry '-.-.-' and must always be bound, or
# producer health and recovery cannot work (hence the second pattern of every preset).
SYSTEM_PATTERN = ("-", "-", "-")
PRESETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "all": (("*",),),
    "live": (("*", "*", "live"), SYSTEM_PATTERN),
    "prematch": (("*", "pre"), SYSTEM_PATTERN),
    "virtual": (("*", "virt"), SYSTEM_PATTERN),
    "liveandprematch": (("*", "*", "live"), ("*", "pre"), SYSTEM_PATTERN),
}


def bindings(preset: str = "all", *, sports: tuple[int, ...] = (), node_id: int | None = None) -> list[str]:
    """Binding keys for a preset, optionally limited to sports, for messages to us or to all nodes.

    Messages with node '-' go to everyone; recovery messages carry the requesting node id, so
    with a node id we bind both '-' and our id (as the SDK does). Without one, all nodes.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown routing preset {preset!r}; choose from {', '.join(PRESETS)}")
    nodes = ["*"] if node_id is None else ["-", str(node_id)]
    prefixes = PRESETS[preset]
    if sports and SYSTEM_PATTERN not in prefixes:
        prefixes = (*prefixes, SYSTEM_PATTERN)  # a sport filter must not cut off alives
    keys: list[str] = []
    for prefix in prefixes:
        is_system = prefix == SYSTEM_PATTERN
        sport_sections = [None] if (is_system or not sports) else [str(s) for s in sports]
        for sport in sport_sections:
            sections = list(prefix) + ["*"] * (7 - len(prefix))
            if sport is not None:
                sections[4] = sport
            for node in nodes:
                key = ".".join(sections + [node])
                if key not in keys:
                    keys.append(key)
    return keys


# A routing key inside a file name: a journal export or a capture names each message file after
# the key it was delivered with (e.g. '0007_lo.-.live.bet_settlement.5.sr:match.43000001.-.xml').
# The key is the longest 8-section tail of the name (before '.xml') that parses; what precedes it
# (a sequence number, a timestamp) ends with a separator that cannot start a key.
_KEY_START = re.compile(r"(?:^|(?<=[_\s@+=#,;]))(?:hi|lo|-)\.")


def routing_key_in_name(name: str) -> str | None:
    """The routing key a message file is named after (as delivered, '%3A' read as ':'), or None
    when its name carries none."""
    stem = unquote(name[:-4] if name.lower().endswith(".xml") else name)
    for match in _KEY_START.finditer(stem):
        candidate = stem[match.start() :]
        try:
            parse_routing_key(candidate)
        except InvalidRoutingKey:
            continue
        return candidate
    return None
