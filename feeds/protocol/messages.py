"""UOF feed messages: bytes in, typed, immutable objects out.

Tolerant where the feed is sloppy (see the fixtures' SOURCES.md): UTF-8 BOM, no XML declaration,
unknown attributes (ignored), a missing `certainty`, the misspelled `extended_specifers`,
exponent notation in probabilities. Strict where we act on the data: product, timestamps,
event URN, market ids, outcome ids, odds, results and factors must be present where required
and well-formed, or the whole message is refused with a MalformedMessage naming the problem
(the consumer journals it as rejected and carries on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from feeds.protocol.errors import MalformedMessage, UnknownMessageType
from feeds.protocol.specifiers import canonical_specifiers
from feeds.protocol.xmlsafe import DEFAULT_MAX_BYTES, Element, child, children, local, parse_defused, parse_fast

EVENT_URN = re.compile(r"^[A-Za-z0-9_]+:[A-Za-z0-9_]+:\d+$")

# Market status (XSD marketStatus).
ACTIVE, INACTIVE, SUSPENDED, HANDED_OVER, SETTLED, CANCELLED = 1, 0, -1, -2, -3, -4
MARKET_STATUSES = {
    ACTIVE: "active",
    INACTIVE: "inactive",
    SUSPENDED: "suspended",
    HANDED_OVER: "handed over",
    SETTLED: "settled",
    CANCELLED: "cancelled",
}


# --- small attribute readers ------------------------------------------------------------------


def _get(el: Element, name: str) -> str | None:
    value = el.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _int(el: Element, name: str, *, required: bool = False, where: str = "") -> int | None:
    value = _get(el, name)
    if value is None:
        if required:
            raise MalformedMessage(f"{where or local(el.tag)}: missing required attribute {name!r}")
        return None
    try:
        return int(value)
    except ValueError:
        raise MalformedMessage(f"{where or local(el.tag)}: {name}={value!r} is not a whole number") from None


def _req_int(el: Element, name: str, where: str = "") -> int:
    value = _int(el, name, required=True, where=where)
    assert value is not None
    return value


def _decimal(el: Element, name: str, *, where: str = "") -> Decimal | None:
    value = _get(el, name)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise MalformedMessage(f"{where or local(el.tag)}: {name}={value!r} is not a number") from None
    if not number.is_finite():
        raise MalformedMessage(f"{where or local(el.tag)}: {name}={value!r} is not finite")
    return number


def _flag(el: Element, name: str, default: bool | None = None) -> bool | None:
    value = _get(el, name)
    if value is None:
        return default
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise MalformedMessage(f"{local(el.tag)}: {name}={value!r} is not 0/1")


def _specifiers(el: Element, name: str, where: str) -> str:
    raw = _get(el, name)
    if raw is None:
        return ""
    try:
        return canonical_specifiers(raw)
    except MalformedMessage as exc:
        raise MalformedMessage(f"{where}: {exc}") from None


def _extended(el: Element) -> str:
    # 'extended_specifers' (sic) appears in Sportradar's own bet_cancel sample.
    raw = _get(el, "extended_specifiers") or _get(el, "extended_specifers")
    return raw or ""


def _plain(el: Element) -> dict[str, str]:
    return {local(k): v for k, v in el.attrib.items()}


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


class OutcomeOdds(NamedTuple):
    # NamedTuples for the two shapes built hundreds of times per message: ~5x cheaper to
    # create than frozen dataclasses, just as immutable.
    id: str
    odds: Decimal | None
    probability: Decimal | None
    active: bool
    team: int | None = None


class MarketOdds(NamedTuple):
    id: int
    specifiers: str
    status: int
    outcomes: tuple[OutcomeOdds, ...]
    extended_specifiers: str = ""
    favourite: bool = False
    cashout_status: int | None = None
    next_betstop: int | None = None


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


def _market_id(el: Element, where: str) -> int:
    market_id = _req_int(el, "id", where)
    if market_id <= 0:
        raise MalformedMessage(f"{where}: market id {market_id} must be positive")
    return market_id


def _outcome_id(el: Element, where: str) -> str:
    outcome_id = _get(el, "id")
    if outcome_id is None:
        raise MalformedMessage(f"{where}: outcome without id")
    return outcome_id


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


def _number(raw: str | None, name: str, where: str) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise MalformedMessage(f"{where}: {name}={raw!r} is not a number") from None
    if not number.is_finite():
        raise MalformedMessage(f"{where}: {name}={raw!r} is not finite")
    return number


def _odds_market_checked(el: Element) -> MarketOdds:
    # The reference reading of a market: the fast path below falls back to it whenever a value
    # is anything but plain, so that every refusal and tolerance is decided here.
    where = f"market {el.get('id')!r}"
    market_id = _market_id(el, where)
    outcomes = []
    next_betstop = None
    for item in el:
        name = item.tag if item.tag[0] != "{" else local(item.tag)
        if name == "outcome":
            attrs = item.attrib
            outcome_id = attrs.get("id")
            if not outcome_id:
                raise MalformedMessage(f"{where}: outcome without id")
            odds = _number(attrs.get("odds"), "odds", where)
            if odds is not None and odds <= 0:
                raise MalformedMessage(f"{where}: odds {odds} must be positive")
            active_raw = attrs.get("active")
            if active_raw is None or active_raw in ("1", "true"):
                active = True
            elif active_raw in ("0", "false"):
                active = False
            else:
                raise MalformedMessage(f"outcome: active={active_raw!r} is not 0/1")
            team = attrs.get("team")
            outcomes.append(
                OutcomeOdds(
                    outcome_id.strip(),
                    odds,
                    _number(attrs.get("probabilities"), "probabilities", where),
                    active,
                    _int(item, "team", where=where) if team is not None else None,
                )
            )
        elif name == "market_metadata":
            next_betstop = _int(item, "next_betstop", where=where)
    status = _int(el, "status", where=where)
    return MarketOdds(
        id=market_id,
        specifiers=_specifiers(el, "specifiers", where),
        status=ACTIVE if status is None else status,
        outcomes=tuple(outcomes),
        extended_specifiers=_extended(el),
        favourite=bool(_flag(el, "favourite", False)),
        cashout_status=_int(el, "cashout_status", where=where),
        next_betstop=next_betstop,
    )


# Values seen before, already checked: odds repeat a lot (the same prices come back all day)
# and a dict hit is several times cheaper than Decimal() plus the checks. Bounded: emptied when
# full.
_ODDS: dict[str | None, Decimal | None] = {None: None, "": None}
_SPECIFIERS: dict[str | None, str] = {None: ""}
_SMALL_INTS = {str(i): i for i in range(-9, 10)}
_CACHE_LIMIT = 100_000
_new_outcome = tuple.__new__  # NamedTuple's own __new__ is a Python function: one frame less


def _cached_number(raw: str, name: str, where: str, cache: dict) -> Decimal | None:
    number = _number(raw, name, where)
    if name == "odds" and number is not None and number <= 0:
        raise MalformedMessage(f"{where}: odds {number} must be positive")
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
        cache[None] = cache[""] = None
    cache[raw] = number
    return number


def _odds_market(el: Element) -> MarketOdds:
    """The hot loop of the whole feed (a snapshot has hundreds of outcomes). Plain values are
    read inline with lookups in the caches above; anything else (whitespace, missing or odd
    values, namespaces, unknown attributes that matter) goes to _odds_market_checked, which
    decides with the full rules. Both give equal results (tests compare them)."""
    attrs = el.attrib
    raw = attrs.get("id")
    market_id = _SMALL_INTS.get(raw)
    if market_id is None:
        if raw is None or not (raw.isascii() and raw.isdigit()):
            return _odds_market_checked(el)
        market_id = int(raw)
    if market_id <= 0:
        return _odds_market_checked(el)
    raw = attrs.get("status")
    status = ACTIVE if raw is None else _SMALL_INTS.get(raw)
    specifiers = _SPECIFIERS.get(attrs.get("specifiers"))
    raw = attrs.get("favourite")
    favourite = False if raw is None else (True if raw == "1" else (False if raw == "0" else None))
    if (
        status is None
        or specifiers is None
        or favourite is None
        or "extended_specifiers" in attrs
        or "extended_specifers" in attrs
        or "cashout_status" in attrs
    ):
        if status is not None and favourite is not None and specifiers is None:
            # A new specifier string: learn its canonical form (or refuse it) once.
            raw = attrs.get("specifiers")
            specifiers = _specifiers(el, "specifiers", f"market {attrs.get('id')!r}")
            if len(_SPECIFIERS) > _CACHE_LIMIT:
                _SPECIFIERS.clear()
                _SPECIFIERS[None] = ""
            _SPECIFIERS[raw] = specifiers
            return _odds_market(el)
        return _odds_market_checked(el)
    outcomes = []
    append = outcomes.append
    odds_cache = _ODDS
    next_betstop = None
    for item in el:
        if item.tag != "outcome":
            if item.tag == "market_metadata":
                next_betstop = _int(item, "next_betstop", where=f"market {attrs.get('id')!r}")
                continue
            if item.tag[0] == "{":
                return _odds_market_checked(el)
            continue
        a = item.attrib
        outcome_id = a.get("id")
        raw = a.get("odds")
        odds = odds_cache.get(raw, _odds_market)  # the function: a sentinel no value can be
        if odds is _odds_market:
            odds = _cached_number(raw, "odds", f"market {attrs.get('id')!r}", odds_cache)
        raw = a.get("probabilities")
        if raw is None:
            probability = None
        else:
            # Not cached: probabilities (5-10 significant digits) rarely repeat, and a cache
            # that always misses measured twice the cost of Decimal() alone.
            try:
                probability = Decimal(raw)
            except InvalidOperation:
                return _odds_market_checked(el)
            if not probability.is_finite():
                return _odds_market_checked(el)
        raw = a.get("active")
        if raw == "1" or raw is None:
            active = True
        elif raw == "0":
            active = False
        else:
            return _odds_market_checked(el)
        if not outcome_id or "team" in a:
            return _odds_market_checked(el)
        append(_new_outcome(OutcomeOdds, (outcome_id.strip(), odds, probability, active, None)))
    return _new_outcome(MarketOdds, (market_id, specifiers, status, tuple(outcomes), "", favourite, None, next_betstop))


def parse_odds_change(root: Element) -> OddsChange:
    product, timestamp, request_id = _header(root)
    status_el = child(root, "sport_event_status")
    odds_el = child(root, "odds")
    props = child(root, "odds_generation_properties")
    if odds_el is not None:
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


def parse_message(body: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, defused: bool = False) -> Message:
    """Parse one feed message. Raises MalformedMessage (or a subclass) with the reason."""
    root = (parse_defused if defused else parse_fast)(body, max_bytes=max_bytes)
    return parse_element(root)
