"""odds_change markets read straight from the message text, before any tree is built.

Building the ElementTree of a 30-market odds_change (about 100 elements) and reading it back
cost more than half of the consumer's CPU per message. The usual message is regular: plain
`<market …>` elements whose `<outcome id=… odds=… probabilities=… active=…/>` children carry
plain numbers. This module cuts the `<odds>` element's content out of the body, reads those
markets with C-level string operations (the compact layout cut by column for the whole
message, its glue compared with the layout's; other layouts by one regex split of a token
grammar; value caches), and leaves only
the small rest of the message (header, sport_event_status, odds attributes) to the XML
parser. A market whose text is the same as in its event's last message is reused (a
whole-event message where few lines moved).

Safety: it only ever *accepts less* than the XML parser. The text it reads must match a strict
grammar (double-quoted values of printable ASCII without `"`, `&`, `<`; whitespace between
elements; no comment, CDATA, processing instruction, DTD or namespace anywhere in the body)
which is well-formed XML by construction, and the rest of the message still goes through
feeds.protocol.xmlsafe's guarded parser, after xmlsafe's checks of the whole body. Anything
else returns None and the caller parses the whole message as before. This path never raises:
every refusal (and its wording) stays with the full parser.
"""

from __future__ import annotations

import re
from collections import deque
from decimal import Decimal, InvalidOperation
from itertools import accumulate, chain, compress, repeat
from operator import itemgetter

from feeds.protocol.errors import MalformedMessage
from feeds.protocol.odds import (
    _ODDS,
    _SMALL_INTS,
    _SPECIFIERS,
    ACTIVE,
    Listed,
    MarketOdds,
    _cached_number,
    _make_outcome,
)
from feeds.protocol.specifiers import canonical_specifiers

_WS = " \t\r\n"  # XML whitespace (str.strip() alone would also strip \x0b, \x0c, \x1c-\x1f)
_VALUE = "[ !#-%'-;=?-~]*"  # printable ASCII except " & < >
_ODDS_OPEN = re.compile(rb'<odds(?: [a-z_]+="[ !#-%\'-;=?-~]*")*>')
_HEAD = re.compile(f'[a-z_]+="{_VALUE}"(?: [a-z_]+="{_VALUE}")*')
# One outcome in the usual attribute order; a missing attribute reads as None (odds,
# probabilities: none; active: 1), as in the reference reader. Numbers are digits and dots
# only (no exponent, sign, NaN or infinity: those take the reference reader).
_TOKEN = re.compile(
    r"<market ([^<>]*)>|</market>|"
    r'<outcome id="([!#-%\'-;=?-~]+)"(?: odds="([0-9.]+)")?(?: probabilities="([0-9.]+)")?(?: active="([01])")?/>'
)
_ACTIVE = {"1": True, "0": False, None: True}
_new = tuple.__new__
_NONES = repeat(None)  # zip() stops at the shortest: endless is fine
_OTHER = "other"  # a market head this module does not read: the reference reader does
# Market start tags seen before (the text between "<market " and ">"): the same lines come
# back with the same heads all day. Values are tuples of atoms (the GC untracks them).
_HEADS: dict[str, tuple[int, str, int, bool, bool] | str] = {}
_HEADS_LIMIT = 100_000


def _read_head(head: str) -> tuple[int, str, int, bool, bool] | str:
    """(market id, canonical specifiers, status, favourite, self-closing), or _OTHER."""
    closed = head.endswith("/")
    text = head[:-1].rstrip(_WS) if closed else head.rstrip(_WS)
    found: tuple[int, str, int, bool, bool] | str = _OTHER
    if _HEAD.fullmatch(text):
        parts = text.split('"')  # name=, value, " name=", value, …, ""
        values = parts[1::2]
        attrs = dict(zip([name.strip(" =") for name in parts[0::2]], values, strict=False))
        raw_id = attrs.get("id")
        raw_status = attrs.get("status")
        favourite = {None: False, "1": True, "0": False}.get(attrs.get("favourite"), _OTHER)
        status = ACTIVE if raw_status is None else _SMALL_INTS.get(raw_status)
        if (
            len(attrs) == len(values)  # no attribute twice (the parser refuses that)
            and raw_id is not None
            and raw_id.isdigit()
            and int(raw_id) > 0
            and status is not None
            and favourite is not _OTHER
            and not attrs.keys() & {"extended_specifiers", "extended_specifers", "cashout_status", "xmlns"}
        ):
            raw_spec = attrs.get("specifiers")
            specifiers = _SPECIFIERS.get(raw_spec)
            if specifiers is None:
                # As readers._specifiers; a refusal is left to the reference reader's wording.
                stripped = raw_spec.strip() if raw_spec is not None else None
                try:
                    specifiers = canonical_specifiers(stripped) if stripped else ""
                except MalformedMessage:
                    specifiers = None
            if specifiers is not None:
                found = (int(raw_id), specifiers, status, favourite, closed)
    return found


def _learn_head(head: str) -> tuple[int, str, int, bool, bool] | str:
    found = _read_head(head)
    if len(_HEADS) > _HEADS_LIMIT:
        _HEADS.clear()
    _HEADS[head] = found
    return found


def _learn_odds(raw_odds: list[str | None]) -> list[Decimal | None] | None:
    """The odds as Decimals, checking and caching the values not seen yet as the reference
    reader does; None if one is refused (the full parser then words the refusal)."""
    try:
        return [_ODDS[raw] if raw in _ODDS else _cached_number(raw, "odds", "", _ODDS) for raw in raw_odds]
    except MalformedMessage:
        return None


def _odds_of(raw_odds: list[str | None]) -> list[Decimal | None] | None:
    """The odds as Decimals from the cache (one C loop), or checked now (_learn_odds)."""
    try:
        return list(map(_ODDS.__getitem__, raw_odds))
    except KeyError:
        return _learn_odds(raw_odds)


def _head(text: str) -> tuple[int, str, int, bool, bool] | str:
    info = _HEADS.get(text)
    return _learn_head(text) if info is None else info


# An outcome's entry in the JSON text (as feeds.services.state writes it), cut around its values;
# the first piece also closes the entry before ('"},"', or '"}}\x00{"' at a market's start).
_JSON_GLUE = ['"},"', None, '":{"odds":"', None, None, None]
_ACTIVE_PROB = {"1": '","active":true,"prob":"', "0": '","active":false,"prob":"'}  # around the active
_ALL_ACTIVE = [_ACTIVE_PROB["1"]]
_FIRST = itemgetter(0)
_THIRD = itemgetter(2)
# Compact heads: the start tag's text between "<market " and its last quote (a key of its own:
# _HEADS holds whole tags) -> as _HEADS, or _NO_MARKET (market ids are positive: one test of
# the ids column finds it, where `_OTHER in` compared every tuple with a string).
_CHEADS: dict[str, tuple[int, str, int, bool, bool]] = {}
_NO_MARKET = (0, "", 0, False, False)
# Odds texts checked (as _ODDS) and the text str(Decimal) gives for them (the JSON text takes
# them as they are) -> their Decimal: the usual message's odds and their plainness in one lookup
# each.
_PLAIN_ODDS: dict[str, Decimal] = {}


def _learn_plain_odds(raw_odds: list[str], odds: list[Decimal | None]) -> bool:
    """Learn which of the message's odds texts are plain; whether all are."""
    if len(_PLAIN_ODDS) > _HEADS_LIMIT:
        _PLAIN_ODDS.clear()
    _PLAIN_ODDS.update(
        [(raw, number) for raw, number in zip(raw_odds, odds, strict=True) if number is not None and str(number) == raw]
    )
    return all(map(_PLAIN_ODDS.__contains__, raw_odds))


def _compact_head(head: str) -> tuple[int, str, int, bool, bool]:
    found = _read_head(head + '"')
    if found is _OTHER:
        found = _NO_MARKET
    if len(_CHEADS) > _HEADS_LIMIT:
        _CHEADS.clear()
    _CHEADS[head] = found
    return found


def _glue_text(size: int) -> str | None:
    """The layout's glue in a market of `size` pieces (8 an outcome), "\x00"-separated."""
    count = size >> 3
    if size & 7 or not count:
        return None
    glue = "\x00".join([*_GLUE_NEXT * (count - 1), " odds=", " probabilities=", " active=", "/>"])
    if count <= 64:  # the usual sizes, bounded
        _GLUE_TEXTS[size] = glue
    return glue


# A market's outcome ids, checked (in a message whose ids pass _read_bodies's checks, none to
# escape in JSON) and with no id twice -> the one tuple of them: the checks once per shape, and
# the state compares a line's last ids with the new by identity.
_IDS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _distinct_ids(ids_of: list[tuple[str, ...]]) -> list[tuple[str, ...] | None]:
    """_IDS's tuple for each market's ids (learnt now if new), None for ids with one twice."""
    if len(_IDS) > _HEADS_LIMIT:
        _IDS.clear()
    found: list[tuple[str, ...] | None] = []
    for ids in ids_of:
        known = _IDS.get(ids)
        if known is None and len(set(ids)) == len(ids):
            known = _IDS[ids] = ids
        found.append(known)
    return found


_GLUE_NEXT = (" odds=", " probabilities=", " active=", "/><outcome id=")
_GLUE_TEXTS: dict[int, str] = {}


def _compact(
    text: str, memo: dict[str, tuple[str, MarketOdds]] | None = None
) -> tuple[list[MarketOdds], list[str], list[str], int] | None:
    """The usual message written without whitespace between elements, every outcome with id,
    odds, probabilities and active in that order. Returns the markets, each market's start
    tag text and outcomes' text (for the memo) and how many markets `memo` (the event's markets
    as last read: start tag -> (outcomes' text, market)) gave again; None for anything else
    (the token grammar then tries).

    The values are cut out for the whole message with C string operations: the text cut at
    "</market><market ", each market at the end of its start tag and its outcomes at the
    quotes. The text is taken only if every piece between the values is the layout's glue in
    its place (8 pieces an outcome in each market, the market's last outcome closing it), the
    start tags pass their grammar and the values their checks by column; then it is exactly
    the layout with those values. The markets, outcomes and JSON texts are built by column
    too (no bytecode per outcome, little per market)."""
    if not text.startswith("<market ") or "&" in text:
        return None
    chunks = text.split("</market><market ")  # (no copy of the text without its "<market ")
    last = chunks[-1]
    if not last.endswith("</market>"):
        return None
    chunks[-1] = last[:-9]
    chunks[0] = chunks[0][8:]
    # (head, '"><outcome id="', outcomes' text) a market
    cuts = list(map(str.partition, chunks, repeat('"><outcome id="')))
    heads = list(map(_FIRST, cuts))
    bodies = list(map(_THIRD, cuts))
    same = 0
    if memo:
        # A market whose text is the same as the event's last one of that start tag (a
        # whole-event message where most lines did not move) is that market again: one string
        # comparison instead of reading it (the state then compares identical objects).
        reused = [
            None if last is None or last[0] != body else last[1]
            for last, body in zip(map(memo.get, heads), bodies, strict=True)
        ]
        same = len(reused) - reused.count(None)
    if not same:
        markets = _read_bodies(heads, bodies)
        if markets is None:
            return None
    else:
        markets = reused  # type: ignore[assignment]
        fresh = [index for index, market in enumerate(reused) if market is None]
        if fresh:
            read = _read_bodies([heads[i] for i in fresh], [bodies[i] for i in fresh])
            if read is None:
                return None
            for index, market in zip(fresh, read, strict=True):
                markets[index] = market
    return markets, heads, bodies, same


def _read_bodies(heads: list[str], bodies: list[str]) -> list[MarketOdds] | None:
    """The markets of these start tags' texts and outcomes' texts (see _compact)."""
    # Each market's outcomes cut at the quotes: 8 pieces an outcome (id, glue, odds, glue,
    # probabilities, glue, active, glue), so each market's pieces start at an id.
    split = list(map(str.split, bodies, repeat('"')))
    sizes = list(map(len, split))
    values = list(chain.from_iterable(split))
    total = len(values) >> 3
    # The glue between the values must be the layout's: then the text is exactly the layout's
    # (the start tags are checked by their grammar, the values by column below). Compared as
    # one text, the pieces "\x00"-separated (no piece holds a NUL: xmlsafe refuses them).
    # (Looked up by __getitem__: a miss raises, rare; `None in` compares every item.)
    try:
        expected = list(map(_GLUE_TEXTS.__getitem__, sizes))
    except KeyError:
        expected = list(map(_glue_text, sizes))
        if None in expected:
            return None
    if "\x00".join(values[1::2]) != "\x00".join(expected):  # type: ignore[arg-type]
        return None
    try:
        infos = list(map(_CHEADS.__getitem__, heads))
    except KeyError:
        infos = [_CHEADS.get(head) or _compact_head(head) for head in heads]
    ids = values[0::8]
    raw_odds = values[2::8]
    probabilities = values[4::8]
    actives = values[6::8]
    market_ids, specifiers, statuses, favourites, _ = zip(*infos, strict=True)
    if 0 in market_ids:  # a start tag this module does not read (_NO_MARKET)
        return None
    counts = list(map((3).__rrshift__, sizes))  # size >> 3: the outcomes
    lasts = list(accumulate(counts))
    firsts = [0, *lasts[:-1]]
    slices = list(map(slice, firsts, lasts))
    # Values: ids printable without "<", quotes or spaces (the parser would refuse the one, keep
    # the other where the reader strips it), probabilities digits and dots (so Decimal() of them
    # is finite), odds from the checked cache (or checked now), actives 0 or 1. Control
    # characters and "&" are refused by the parser: this path leaves them to it.
    ids_of = list(map(tuple(ids).__getitem__, slices))
    try:  # the usual: every market's ids seen before (_IDS: checked, no id twice, no escaping)
        ids_of = list(map(_IDS.__getitem__, ids_of))
        distinct = True
    except KeyError:
        joined = "".join(ids)
        if not joined.isprintable() or " " in joined or "<" in joined or '"' in joined or "" in ids:
            return None
        # An id to escape in JSON: every market named (the state builds its text).
        ids_of = None if "\\" in joined else _distinct_ids(ids_of)
        distinct = ids_of is not None and None not in ids_of
    try:  # the usual: every odds text seen before, and plain (so none is empty)
        odds = list(map(_PLAIN_ODDS.__getitem__, raw_odds))
        odds_plain = priced = True
    except KeyError:
        odds = _odds_of(raw_odds)
        if odds is None:
            return None
        odds_plain = _learn_plain_odds(raw_odds, odds)
        priced = "" not in raw_odds
    plain = _decimal_texts(probabilities)
    if plain is None:
        return None
    try:
        # The usual: every outcome active (a one-character string from the split is the shared
        # one: the count compares identities).
        all_active = actives.count("1") == total
        active = [True] * total if all_active else list(map(_ACTIVE.__getitem__, actives))
        if not plain:
            probabilities = [str(Decimal(p)) for p in probabilities]
    except (InvalidOperation, KeyError):
        return None  # such as "1..2" or active="true": the full parser decides
    # Plain tuples (zip builds them); a Listed market gives them as OutcomeOdds when read, the
    # others are named below.
    outcomes = tuple(zip(ids, odds, probabilities, active, _NONES, strict=False))
    listed = list(map(outcomes.__getitem__, slices))
    if ids_of is not None and priced:  # no JSON escaping, every outcome priced
        # The outcomes' JSON text for every market in one join: a market's first outcome's
        # leading "," stands for the end of the one before and the start of its own.
        pieces = _JSON_GLUE * total
        pieces[1::6] = ids
        pieces[3::6] = raw_odds if odds_plain else list(map(str, odds))
        pieces[4::6] = _ALL_ACTIVE * total if all_active else map(_ACTIVE_PROB.__getitem__, actives)
        pieces[5::6] = probabilities
        deque(map(pieces.__setitem__, map((6).__mul__, firsts), repeat('"}}\x00{"')), 0)
        pieces[0] = '{"'
        pieces.append('"}}')
        texts = "".join(pieces).split("\x00")
        if distinct:
            # Built and named by C calls: no bytecode per market.
            listed = list(map(Listed, listed))
            deque(map(setattr, listed, repeat("ids"), ids_of), 0)
            deque(map(setattr, listed, repeat("json"), texts), 0)
        else:  # a repeated id keeps one entry: the dicts decide for that market
            for index, market_ids_, text_ in zip(range(len(texts)), ids_of, texts, strict=False):
                if market_ids_ is not None:
                    market = listed[index] = Listed(listed[index])
                    market.ids = market_ids_
                    market.json = text_
                else:
                    listed[index] = tuple(map(_make_outcome, listed[index]))
    else:  # rare: an id to escape, odds missing: named outcomes, the state builds the dicts
        listed = [tuple(map(_make_outcome, market)) for market in listed]
    markets = list(
        map(
            _new,
            repeat(MarketOdds),
            zip(market_ids, specifiers, statuses, listed, repeat(""), favourites, _NONES, _NONES, strict=False),
        )
    )
    return markets


# The token grammar's markets (head, outcome count), then the outcomes' ids, odds,
# probabilities and actives.
Columns = tuple[list[tuple], list, list, list, list]


def _tokens(text: str) -> Columns | None:
    """Any whitespace between elements, outcomes without odds, probabilities or active,
    self-closing markets: the token grammar (one regex split)."""
    parts = _TOKEN.split(text)
    separators = parts[0::6]
    if any(separators) and "".join(separators).strip(_WS):
        return None  # text, or an element or outcome of another shape: the full parser reads it
    ids = parts[2::6]  # None but for outcomes: compress() keeps the outcomes' values
    layout = []
    head = None  # of the open market
    count = 0  # its outcomes
    for tag, outcome_id in zip(parts[1::6], ids, strict=True):
        if outcome_id is not None:
            if head is None:
                return None
            count += 1
        elif tag is not None:  # <market …>
            if head is not None:
                return None
            info = _head(tag)
            if info is _OTHER:
                return None
            if info[4]:  # <market …/>
                layout.append((info, 0, None, None))
            else:
                head, count = info, 0
        else:  # </market>
            if head is None:
                return None
            layout.append((head, count, None, None))
            head = None
    if head is not None:
        return None
    return (
        layout,
        list(compress(ids, ids)),
        list(compress(parts[3::6], ids)),
        list(compress(parts[4::6], ids)),
        list(compress(parts[5::6], ids)),
    )


def _markets(columns: Columns) -> tuple[MarketOdds, ...] | None:
    layout, ids, raw_odds, probabilities, actives = columns
    odds = _odds_of(raw_odds)
    if odds is None:
        return None
    try:
        # Probabilities are kept as the text str(Decimal()) gives: usually the text itself.
        if None in probabilities or not _decimal_texts(probabilities):
            probabilities = [None if p is None else str(Decimal(p)) for p in probabilities]
        active = list(map(_ACTIVE.__getitem__, actives))
    except (InvalidOperation, KeyError):
        return None  # such as "1..2" or active="true": the full parser decides
    outcomes = list(map(_make_outcome, zip(ids, odds, probabilities, active, _NONES, strict=False)))
    fragments = _fragments(ids, raw_odds, odds, probabilities, actives)
    markets = []
    first = 0
    for info, count, _, _ in layout:
        if count < 0:  # the same text as the event's last market of that head
            markets.append(info)
            continue
        market_id, specifiers, status, favourite, _ = info
        last = first + count
        if fragments is None or not count:
            listed = tuple(outcomes[first:last])
        else:
            market_ids = tuple(ids[first:last])
            if len(set(market_ids)) == count:
                listed = Listed(outcomes[first:last])
                listed.ids = market_ids
                listed.json = "{" + "".join(fragments[first * 10 + 1 : last * 10]) + "}"
            else:  # a repeated id keeps one entry: the dicts decide
                listed = tuple(outcomes[first:last])
        markets.append(_new(MarketOdds, (market_id, specifiers, status, listed, "", favourite, None, None)))
        first = last
    return tuple(markets)


def _decimal_texts(values: list[str]) -> bool | None:
    """None unless every value is digits and dots; then whether each is the text
    str(Decimal()) gives back for it: not empty, no leading zero or dot, no trailing dot, one
    dot at most (Decimal refuses the others), no "0.000000…" (an exponent). Byte translations
    and substring searches (C loops; a regex over the values measured ~100k instructions a
    message). Searched with find(), not `in`: bytes' `in` first tries its operand as an
    integer and formats the TypeError it then clears (~1.7k instructions a test)."""
    data = f",{','.join(values)},".encode()
    shape = data.translate(_SHAPE)  # 1-9 read "1", anything but digits, dots and commas "x"
    if shape.find(b"x") >= 0:
        return None
    return not (
        # an empty value, a leading or trailing dot, two dots side by side: two separators
        # side by side once dots read as commas
        shape.translate(_DOTS_AS_COMMAS).find(b",,") >= 0
        or shape.find(b",00") >= 0  # a leading zero
        or shape.find(b",01") >= 0
        or data.find(b",0.000000") >= 0
        or shape.translate(None, b"01").find(b"..") >= 0  # two dots in one value
    )


_DOTS_AS_COMMAS = bytes.maketrans(b".", b",")
_SHAPE = bytes(ord("1") if ch in b"123456789" else ch if ch in b"0.," else ord("x") for ch in range(256))
_ACTIVE_JSON = {"1": "true", "0": "false", None: "true"}
# An outcome's entry, cut around its four values; the leading "," is skipped for a market's first.
_GLUE = (",", '"', None, '":{"odds":"', None, '","active":', None, ',"prob":"', None, '"}')


def _fragments(ids: list[str], raw_odds: list, odds: list, probabilities: list, actives: list) -> list[str] | None:
    """The outcomes' entries of the store's JSON text ('"id":{"odds":…,"active":…,"prob":…}', as
    feeds.services.state writes it from the dicts), 10 pieces an outcome, built column-wise: the
    odds as str(Decimal) gives them, the probabilities' checked text. None when an outcome lacks
    odds or probabilities or an id needs JSON escaping."""
    # An odds value is None exactly when its text is missing or empty (the readers' rule);
    # testing the Decimals instead costs an isinstance chain per value (~1.8k instructions).
    if None in probabilities or None in raw_odds or "" in raw_odds or "\\" in "".join(ids):
        return None
    odds_text = list(map(str, odds))  # C calls; checking the text measured dearer
    pieces = list(_GLUE) * len(ids)  # slice assignments fill the values in (C loops)
    pieces[2::10] = ids
    pieces[4::10] = odds_text
    pieces[6::10] = map(_ACTIVE_JSON.__getitem__, actives)
    pieces[8::10] = probabilities
    return pieces


def _remember(keep: dict[str, tuple[str, MarketOdds]], heads: list[str], bodies: list[str], markets: list) -> None:
    """Keep the event's markets as read now for its next message (_compact's memo). Keys and
    texts are strings, the markets immutable tuples."""
    global _MEMO_SIZE
    before = len(keep)
    keep.update(zip(heads, zip(bodies, markets, strict=True), strict=True))
    _MEMO_SIZE += len(keep) - before


def _memo_of(event: bytes) -> list:
    """The event's [memo, rest]: `rest` counts down the messages that skip the memo."""
    global _MEMO_SIZE
    state = _MEMO.get(event)
    if state is None:
        if _MEMO_SIZE > _MEMO_LIMIT:  # bounded: emptied when full
            _MEMO.clear()
            _MEMO_SIZE = 0
        state = _MEMO[event] = [{}, 0]
    return state


# Per event: its markets as last read, and the memo's switch. A producer sending only the
# lines that moved (the bench's own message) never repeats a market's text: after a message
# where nothing was the same, the event's next 14 messages skip the memo (no lookup, no copy
# kept), the 15th stores its markets again and the 16th tries them, so such a feed pays for
# the memo on one message in eight.
_MEMO: dict[bytes, list] = {}
_MEMO_SIZE = 0  # entries in all the events' memos
_MEMO_LIMIT = 100_000
_MEMO_REST = 16


def split_odds(data: bytes) -> tuple[bytes, tuple[MarketOdds, ...]] | None:
    """The body (checked by xmlsafe's guard) without its `<odds>` content, and the markets read
    from that content; None when the message is not one this path reads."""
    start = data.find(b"<odds>")
    if start >= 0:
        start += 6
    else:
        start = data.find(b"<odds ")
        if start < 0:
            return None
        found = _ODDS_OPEN.match(data, start)
        if found is None:
            return None
        start = found.end()
    end = data.rfind(b"</odds>")  # from the end: it is near there (a second one fails below)
    if end < start:
        return None
    # The inner text is held to the grammars above; the rest, given to the XML parser, must
    # have exactly one <odds> element ("<odds_" starts odds_change and
    # odds_generation_properties): the one cut out is the one the parser sees. No comment,
    # CDATA or processing instruction (a "<" in them would not start a tag), no namespace
    # (the reference reader sees local names; keep its one reading).
    skeleton = data[:start] + data[end:]
    if (
        skeleton.count(b"<odds") != skeleton.count(b"<odds_") + 1
        or skeleton.count(b"</odds>") != 1
        or skeleton.find(b"<!") >= 0  # (find: see _decimal_texts)
        or skeleton.find(b"<?", 1) >= 0
        or skeleton.find(b"xmlns") >= 0
    ):
        return None
    try:  # ASCII reads the same in any encoding the declaration may name
        text = str(memoryview(data)[start:end], "ascii")  # (no copy of the bytes first)
    except UnicodeDecodeError:
        return None
    # Any key does (a market is reused only when its text is the same): the root's event_id.
    at = skeleton.find(b' event_id="')
    state = _memo_of(skeleton[at + 11 : skeleton.find(b'"', at + 11)]) if at >= 0 else None
    if state is None or state[1] > 1:  # no memo, or resting
        if state is not None:
            state[1] -= 1
        memo = keep = None
    else:
        keep = state[0]
        memo = keep if state[1] == 0 and keep else None  # (1: store only, try next time)
        state[1] = 0
    read = _compact(text, memo)
    if read is not None:
        markets, heads, bodies, same = read
        if keep is not None:
            _remember(keep, heads, bodies, markets)
            if memo and not same:
                state[1] = _MEMO_REST  # nothing was the same
        return skeleton, tuple(markets)
    columns = _tokens(text)
    markets = None if columns is None else _markets(columns)
    return None if markets is None else (skeleton, markets)
