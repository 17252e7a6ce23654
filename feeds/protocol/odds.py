"""Reading an odds_change's markets: the hot loop of the whole feed.

`_odds_market_checked` is the reference reading of one <market> element (every refusal and
tolerance is decided there); `_odds_market` reads the usual plain market faster with value
caches and falls back to the reference for anything else. feeds.protocol.fastodds reads the
usual markets straight from the message text, before any tree is built, and falls back to
these.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import partial
from typing import NamedTuple

from feeds.protocol.errors import MalformedMessage
from feeds.protocol.readers import _extended, _flag, _int, _market_id, _number, _specifiers
from feeds.protocol.xmlsafe import Element, local

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


class OutcomeOdds(NamedTuple):
    # NamedTuples for the two shapes built hundreds of times per message: ~5x cheaper to
    # create than frozen dataclasses, just as immutable.
    id: str
    odds: Decimal | None
    # The probability as str(Decimal(raw)): checked, exact, and the text the state stores
    # (no Decimal is built for it on the fast path when the text is that already).
    probability: str | None
    active: bool
    team: int | None = None


class Listed(tuple):
    """A market's outcomes as feeds.protocol.fastodds read them from the text, with their ids
    and `json`: the outcome states as the JSON text the store writes (the same text
    feeds.services.state builds from the dicts); the state keeps the text and builds the dicts
    only when something reads them. Only for markets whose outcomes all have odds and
    probabilities, no team, distinct ids.

    The items are held as plain (id, odds, probability, active, team) tuples, built by zip for
    the whole message (a named tuple costs several times more to build, and the usual reader,
    the state's comparison with the line's last outcomes, compares values only); iterating or
    indexing gives OutcomeOdds. Equal (and hashing equal) to the plain tuple of the same
    outcomes."""

    ids: tuple[str, ...]
    json: str

    def __iter__(self):  # type: ignore[override]
        return map(_make_outcome, tuple.__iter__(self))

    def __getitem__(self, index):  # type: ignore[override]
        item = tuple.__getitem__(self, index)
        return tuple(map(_make_outcome, item)) if isinstance(index, slice) else _make_outcome(item)


_make_outcome = partial(tuple.__new__, OutcomeOdds)  # C-level construction, no frame per outcome


class MarketOdds(NamedTuple):
    id: int
    specifiers: str
    status: int
    outcomes: tuple[OutcomeOdds, ...]
    extended_specifiers: str = ""
    favourite: bool = False
    cashout_status: int | None = None
    next_betstop: int | None = None


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
            probability = _number(attrs.get("probabilities"), "probabilities", where)
            outcomes.append(
                OutcomeOdds(
                    outcome_id.strip(),
                    odds,
                    None if probability is None else str(probability),
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
                number = Decimal(raw)
            except InvalidOperation:
                return _odds_market_checked(el)
            if not number.is_finite():
                return _odds_market_checked(el)
            probability = str(number)
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
