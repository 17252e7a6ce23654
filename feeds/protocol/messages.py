"""UOF feed messages: bytes in, typed, immutable objects out.

Tolerant where the feed is sloppy (see the fixtures' SOURCES.md): UTF-8 BOM, no XML declaration,
unknown attributes (ignored), a missing `certainty`, the misspelled `extended_specifers`,
exponent notation in probabilities. Strict where we act on the data: product, timestamps,
event URN, market ids, outcome ids, odds, results and factors must be present where required
and well-formed, or the whole message is refused with a MalformedMessage naming the problem
(the consumer journals it as rejected and carries on).

The attribute readers are in feeds.protocol.readers, the odds_change markets' readers (the hot
loop) in feeds.protocol.odds, and the text-level fast path for odds_change in
feeds.protocol.fastodds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from feeds.protocol.errors import MalformedMessage, UnknownMessageType
from feeds.protocol.fastodds import split_odds
from feeds.protocol.odds import (  # noqa: F401 - re-exported: callers use m.ACTIVE, m.MarketOdds…
    ACTIVE,
    CANCELLED,
    HANDED_OVER,
    INACTIVE,
    MARKET_STATUSES,
    SETTLED,
    SUSPENDED,
    MarketOdds,
    OutcomeOdds,
    _odds_market,
    _odds_market_checked,
)
from feeds.protocol.readers import (
    _decimal,
    _extended,
    _flag,
    _get,
    _int,
    _market_id,
    _outcome_id,
    _plain,
    _req_int,
    _specifiers,
)
from feeds.protocol.xmlsafe import (
    DEFAULT_MAX_BYTES,
    Element,
    child,
    children,
    local,
    parse_defused,
    parse_prepared,
    prepare,
)

EVENT_URN = re.compile(r"^[A-Za-z0-9_]+:[A-Za-z0-9_]+:\d+$")

# --- message objects -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alive:
    kind = "alive"
    product: int
    timestamp: int
    subscribed: bool
    request_id: int | None = None
    event_urn: None = None


@dataclass(frozen=True, slots=True)
class SnapshotComplete:
    kind = "snapshot_complete"
    product: int
    timestamp: int
    request_id: int
    event_urn: None = None


@dataclass(frozen=True, slots=True)
class SportEventStatus:
    status: int | None
    match_status: int | None
    home_score: str | None
    away_score: str | None
    reporting: int | None
    data: dict[str, Any]  # the whole element as JSON-able dicts (clock, period scores, results, statistics)


@dataclass(frozen=True, slots=True)
class OddsChange:
    kind = "odds_change"
    product: int
    event_urn: str
    timestamp: int
    request_id: int | None
    markets: tuple[MarketOdds, ...]
    sport_event_status: SportEventStatus | None = None
    has_odds: bool = False  # an <odds> element was present
    betting_status: int | None = None
    betstop_reason: int | None = None
    odds_change_reason: int | None = None
    expected_totals: Decimal | None = None
    expected_supremacy: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BetStop:
    kind = "bet_stop"
    product: int
    event_urn: str
    timestamp: int
    request_id: int | None
    groups: tuple[str, ...]
    market_status: int | None = None  # None: suspend (-1)


class SettledOutcome(NamedTuple):
    id: str
    result: int  # 1 won, 0 lost, -1 undecided
    void_factor: Decimal | None = None
    dead_heat_factor: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MarketResult:
    id: int
    specifiers: str
    outcomes: tuple[SettledOutcome, ...]
    void_reason: int | None = None
    extended_specifiers: str = ""


@dataclass(frozen=True, slots=True)
class BetSettlement:
    kind = "bet_settlement"
    product: int
    event_urn: str
    timestamp: int
    request_id: int | None
    markets: tuple[MarketResult, ...]
    certainty: int | None = None  # 1 live scouted, 2 confirmed; missing in some real messages


@dataclass(frozen=True, slots=True)
class MarketRef:
    """A market named by a cancel or a rollback; outcome_ids narrows a rollback to some outcomes."""

    id: int
    specifiers: str
    void_reason: int | None = None
    outcome_ids: tuple[str, ...] = ()
    extended_specifiers: str = ""


@dataclass(frozen=True, slots=True)
class BetCancel:
    kind = "bet_cancel"
    product: int
    event_urn: str
    timestamp: int
    request_id: int | None
    markets: tuple[MarketRef, ...]
    start_time: int | None = None
    end_time: int | None = None
    superceded_by: str | None = None


@dataclass(frozen=True, slots=True)
class RollbackBetSettlement:
    kind = "rollback_bet_settlement"
    product: int
    event_urn: str
    timestamp: int
    request_id: int | None
    markets: tuple[MarketRef, ...]


@dataclass(frozen=True, slots=True)
class RollbackBetCancel:
    kind = "rollback_bet_cancel"
    product: int
    event_urn: str
    timestamp: int
    request_id: int | None
    markets: tuple[MarketRef, ...]
    start_time: int | None = None
    end_time: int | None = None


@dataclass(frozen=True, slots=True)
class FixtureChange:
    kind = "fixture_change"
    product: int
    event_urn: str
    timestamp: int
    request_id: int | None
    change_type: int | None = None  # 1 NEW, 2 DATETIME, 3 CANCELLED, 4 FORMAT, 5 COVERAGE, 6 PITCHER
    start_time: int | None = None
    next_live_time: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


Message = (
    Alive
    | SnapshotComplete
    | OddsChange
    | BetStop
    | BetSettlement
    | BetCancel
    | RollbackBetSettlement
    | RollbackBetCancel
    | FixtureChange
)
EVENT_MESSAGES = (
    OddsChange,
    BetStop,
    BetSettlement,
    BetCancel,
    RollbackBetSettlement,
    RollbackBetCancel,
    FixtureChange,
)
MESSAGE_TYPES = (
    "alive",
    "bet_cancel",
    "bet_settlement",
    "bet_stop",
    "fixture_change",
    "odds_change",
    "rollback_bet_settlement",
    "rollback_bet_cancel",
    "snapshot_complete",
)


# --- parsers per element -----------------------------------------------------------------------


def _header(root: Element) -> tuple[int, int, int | None]:
    kind = local(root.tag)
    product = _req_int(root, "product", kind)
    timestamp = _req_int(root, "timestamp", kind)
    if timestamp < 0:
        raise MalformedMessage(f"{kind}: negative timestamp")
    return product, timestamp, _int(root, "request_id", where=kind)


def _event(root: Element) -> str:
    kind = local(root.tag)
    urn = _get(root, "event_id")
    if urn is None:
        raise MalformedMessage(f"{kind}: missing required attribute 'event_id'")
    if not EVENT_URN.match(urn):
        raise MalformedMessage(f"{kind}: event_id {urn!r} is not a URN like sr:match:123")
    return urn


def _sport_event_status(el: Element) -> SportEventStatus:
    data: dict[str, Any] = _plain(el)
    for part in el:
        name = local(part.tag)
        if name in ("period_scores", "results"):
            data[name] = [_plain(item) for item in part]
        elif name == "statistics":
            data[name] = {local(item.tag): _plain(item) for item in part}
        else:
            data[name] = _plain(part)
    return SportEventStatus(
        status=_int(el, "status", where="sport_event_status"),
        match_status=_int(el, "match_status", where="sport_event_status"),
        home_score=_get(el, "home_score"),
        away_score=_get(el, "away_score"),
        reporting=_int(el, "reporting", where="sport_event_status"),
        data=data,
    )


def parse_odds_change(root: Element, markets: tuple[MarketOdds, ...] | None = None) -> OddsChange:
    """`markets`: read already from the text (fastodds), `root` being the message without
    its <odds> element's content."""
    product, timestamp, request_id = _header(root)
    status_el = child(root, "sport_event_status")
    odds_el = child(root, "odds")
    props = child(root, "odds_generation_properties")
    if markets is not None:
        pass
    elif odds_el is not None:
        # children(odds_el, "market") with the usual plain tag compared inline: one call per
        # market less (local() only for a namespaced tag).
        markets = tuple(
            map(
                _odds_market,
                [el for el in odds_el if el.tag == "market" or local(el.tag) == "market"],
            )
        )
    else:
        markets = ()
    return OddsChange(
        product=product,
        event_urn=_event(root),
        timestamp=timestamp,
        request_id=request_id,
        markets=markets,
        sport_event_status=_sport_event_status(status_el) if status_el is not None else None,
        has_odds=odds_el is not None,
        betting_status=_int(odds_el, "betting_status", where="odds") if odds_el is not None else None,
        betstop_reason=_int(odds_el, "betstop_reason", where="odds") if odds_el is not None else None,
        odds_change_reason=_int(root, "odds_change_reason", where="odds_change"),
        expected_totals=_decimal(props, "expected_totals") if props is not None else None,
        expected_supremacy=_decimal(props, "expected_supremacy") if props is not None else None,
    )


def parse_bet_stop(root: Element) -> BetStop:
    product, timestamp, request_id = _header(root)
    groups_raw = _get(root, "groups")
    if groups_raw is None:
        raise MalformedMessage("bet_stop: missing required attribute 'groups'")
    groups = tuple(g.strip() for g in groups_raw.split("|") if g.strip())
    return BetStop(
        product=product,
        event_urn=_event(root),
        timestamp=timestamp,
        request_id=request_id,
        groups=groups,
        market_status=_int(root, "market_status", where="bet_stop"),
    )


def _settled_outcome(el: Element, where: str) -> SettledOutcome:
    result = _req_int(el, "result", where)
    if result not in (-1, 0, 1):
        raise MalformedMessage(f"{where}: result {result} is not -1/0/1")
    void_factor = _decimal(el, "void_factor", where=where)
    if void_factor is not None and not (0 <= void_factor <= 1):
        raise MalformedMessage(f"{where}: void_factor {void_factor} outside 0..1")
    dead_heat = _decimal(el, "dead_heat_factor", where=where)
    if dead_heat is not None and not (0 < dead_heat <= 1):
        raise MalformedMessage(f"{where}: dead_heat_factor {dead_heat} outside (0, 1]")
    return SettledOutcome(id=_outcome_id(el, where), result=result, void_factor=void_factor, dead_heat_factor=dead_heat)


def parse_bet_settlement(root: Element) -> BetSettlement:
    product, timestamp, request_id = _header(root)
    container = child(root, "outcomes")
    market_els = children(container if container is not None else root, "market")
    markets = []
    for el in market_els:
        where = f"market {el.get('id')!r}"
        markets.append(
            MarketResult(
                id=_market_id(el, where),
                specifiers=_specifiers(el, "specifiers", where),
                outcomes=tuple(_settled_outcome(o, where) for o in children(el, "outcome")),
                void_reason=_int(el, "void_reason", where=where),
                extended_specifiers=_extended(el),
            )
        )
    certainty = _int(root, "certainty", where="bet_settlement")
    return BetSettlement(
        product=product,
        event_urn=_event(root),
        timestamp=timestamp,
        request_id=request_id,
        markets=tuple(markets),
        certainty=certainty,
    )


def _market_refs(root: Element) -> tuple[MarketRef, ...]:
    refs = []
    for el in children(root, "market"):
        where = f"market {el.get('id')!r}"
        refs.append(
            MarketRef(
                id=_market_id(el, where),
                specifiers=_specifiers(el, "specifiers", where),
                void_reason=_int(el, "void_reason", where=where),
                outcome_ids=tuple(_outcome_id(o, where) for o in children(el, "outcome")),
                extended_specifiers=_extended(el),
            )
        )
    return tuple(refs)


def _window(root: Element) -> tuple[int | None, int | None]:
    kind = local(root.tag)
    return _int(root, "start_time", where=kind), _int(root, "end_time", where=kind)


def parse_bet_cancel(root: Element) -> BetCancel:
    product, timestamp, request_id = _header(root)
    start, end = _window(root)
    return BetCancel(
        product=product,
        event_urn=_event(root),
        timestamp=timestamp,
        request_id=request_id,
        markets=_market_refs(root),
        start_time=start,
        end_time=end,
        superceded_by=_get(root, "superceded_by"),
    )


def parse_rollback_bet_settlement(root: Element) -> RollbackBetSettlement:
    product, timestamp, request_id = _header(root)
    return RollbackBetSettlement(
        product=product, event_urn=_event(root), timestamp=timestamp, request_id=request_id, markets=_market_refs(root)
    )


def parse_rollback_bet_cancel(root: Element) -> RollbackBetCancel:
    product, timestamp, request_id = _header(root)
    start, end = _window(root)
    return RollbackBetCancel(
        product=product,
        event_urn=_event(root),
        timestamp=timestamp,
        request_id=request_id,
        markets=_market_refs(root),
        start_time=start,
        end_time=end,
    )


def parse_fixture_change(root: Element) -> FixtureChange:
    product, timestamp, request_id = _header(root)
    known = {"product", "timestamp", "request_id", "event_id", "change_type", "start_time", "next_live_time"}
    return FixtureChange(
        product=product,
        event_urn=_event(root),
        timestamp=timestamp,
        request_id=request_id,
        change_type=_int(root, "change_type", where="fixture_change"),
        start_time=_int(root, "start_time", where="fixture_change"),
        next_live_time=_int(root, "next_live_time", where="fixture_change"),
        extra={k: v for k, v in _plain(root).items() if k not in known},
    )


def parse_alive(root: Element) -> Alive:
    product, timestamp, request_id = _header(root)
    # XSD requires subscribed; if a producer ever omits it we assume the usual 1 (the producer
    # still has to pass recovery before its markets count as usable).
    return Alive(product=product, timestamp=timestamp, subscribed=bool(_flag(root, "subscribed", True)))


def parse_snapshot_complete(root: Element) -> SnapshotComplete:
    product, timestamp, request_id = _header(root)
    if request_id is None:
        raise MalformedMessage("snapshot_complete: missing required attribute 'request_id'")
    return SnapshotComplete(product=product, timestamp=timestamp, request_id=request_id)


PARSERS = {
    "alive": parse_alive,
    "bet_cancel": parse_bet_cancel,
    "bet_settlement": parse_bet_settlement,
    "bet_stop": parse_bet_stop,
    "fixture_change": parse_fixture_change,
    "odds_change": parse_odds_change,
    "rollback_bet_settlement": parse_rollback_bet_settlement,
    "rollback_bet_cancel": parse_rollback_bet_cancel,
    "snapshot_complete": parse_snapshot_complete,
}


def parse_element(root: Element) -> Message:
    kind = local(root.tag)
    parser = PARSERS.get(kind)
    if parser is None:
        raise UnknownMessageType(f"unknown message type <{kind}>")
    return parser(root)


# The usual odds_change's rest, read without the general readers' calls per attribute
# (_rest_fast); anything else is read by parse_odds_change, which decides and words refusals.
_URN = re.compile(r"[A-Za-z0-9_]+:[A-Za-z0-9_]+:\d+")  # EVENT_URN, whole (no strip needed)
_STATUS_LISTS = frozenset(("period_scores", "results", "statistics"))


def _digits(value: str | None) -> bool:
    return value is not None and value.isascii() and value.isdigit()


def _status_fast(el: Element) -> SportEventStatus | None:
    """_sport_event_status for plain names and whole-number attributes, else None."""
    attrs = el.attrib
    data: dict[str, Any] = dict(attrs)
    for part in el:
        name = part.tag
        if name in _STATUS_LISTS or name[0] == "{" or len(part):
            return None
        data[name] = dict(part.attrib)
        if "{" in "".join(part.attrib):
            return None
    status, match_status, reporting = attrs.get("status"), attrs.get("match_status"), attrs.get("reporting")
    home, away = attrs.get("home_score"), attrs.get("away_score")
    if (
        "{" in "".join(attrs)
        or not (status is None or _digits(status))
        or not (match_status is None or _digits(match_status))
        or not (reporting is None or _digits(reporting))
    ):
        return None
    return SportEventStatus(
        status=None if status is None else int(status),
        match_status=None if match_status is None else int(match_status),
        home_score=None if home is None else (home.strip() or None),
        away_score=None if away is None else (away.strip() or None),
        reporting=None if reporting is None else int(reporting),
        data=data,
    )


def _rest_fast(root: Element, markets: tuple[MarketOdds, ...]) -> OddsChange | None:
    """parse_odds_change(root, markets) for the usual rest: product, event_id and timestamp
    only (plain digits, a whole URN), an <odds> without attributes and at most a
    sport_event_status (read by _status_fast); None for anything else."""
    attrs = root.attrib
    product, urn, timestamp = attrs.get("product"), attrs.get("event_id"), attrs.get("timestamp")
    if len(attrs) != 3 or not _digits(product) or not _digits(timestamp) or urn is None or not _URN.fullmatch(urn):
        return None
    odds_el = status_el = None
    for el in root:
        tag = el.tag
        if tag == "odds" and odds_el is None:
            odds_el = el
        elif tag == "sport_event_status" and status_el is None:
            status_el = el
        else:
            return None  # odds_generation_properties, anything else: the general reader
    if odds_el is None or odds_el.attrib:
        return None
    status = None
    if status_el is not None:
        status = _status_fast(status_el)
        if status is None:
            return None
    return OddsChange(int(product), urn, int(timestamp), None, markets, status, True)  # type: ignore[arg-type]


def _odds_change_fast(data: bytes) -> OddsChange | None:
    """An odds_change with its markets read from the text (feeds.protocol.fastodds) and the
    rest parsed as usual; None when that path does not apply or anything is amiss (the whole
    message is then parsed again, which decides and words any refusal)."""
    split = split_odds(data)
    if split is None:
        return None
    skeleton, markets = split
    try:
        root = parse_prepared(skeleton)
        if root.tag != "odds_change":
            return None
        odds_el = child(root, "odds")
        if odds_el is None or len(odds_el):  # the <odds> cut out must be the root's, now empty
            return None
        return _rest_fast(root, markets) or parse_odds_change(root, markets)
    except MalformedMessage:
        return None


def parse_message(body: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, defused: bool = False) -> Message:
    """Parse one feed message. Raises MalformedMessage (or a subclass) with the reason."""
    if defused:
        return parse_element(parse_defused(body, max_bytes=max_bytes))
    data = prepare(body, max_bytes)
    # The root's tag (after at most an XML declaration). find(), not `in` (see xmlsafe.prepare).
    if data.find(b"<odds_change", 0, 256) >= 0:
        message = _odds_change_fast(data)
        if message is not None:
            return message
    return parse_element(parse_prepared(data))
