"""odds_change markets read straight from the message text, before any tree is built.

Building the ElementTree of a 30-market odds_change (about 100 elements) and reading it back
cost more than half of the consumer's CPU per message. The usual message is regular: plain
`<market …>` elements whose `<outcome id=… odds=… probabilities=… active=…/>` children carry
plain numbers. This module cuts the `<odds>` element's content out of the body, reads those
markets with C-level string operations (the compact layout cut at "</market>" and at the
quotes; other layouts by one regex split of a token grammar; value caches), and leaves only
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
from decimal import Decimal, InvalidOperation
from functools import partial
from itertools import compress, repeat

from feeds.protocol.errors import MalformedMessage
from feeds.protocol.odds import (
    _ODDS,
    _SMALL_INTS,
    _SPECIFIERS,
    ACTIVE,
    Listed,
    MarketOdds,
    OutcomeOdds,
    _cached_number,
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
_make_outcome = partial(tuple.__new__, OutcomeOdds)  # C-level construction, no frame per outcome
_new = tuple.__new__
_NONES = repeat(None)  # zip() stops at the shortest: endless is fine
_OTHER = "other"  # a market head this module does not read: the reference reader does
# Market start tags seen before (the text between "<market " and ">"): the same lines come
# back with the same heads all day. Values are tuples of atoms (the GC untracks them).
_HEADS: dict[str, tuple[int, str, int, bool, bool] | str] = {}
_HEADS_LIMIT = 100_000


def _learn_head(head: str) -> tuple[int, str, int, bool, bool] | str:
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


def _head(text: str) -> tuple[int, str, int, bool, bool] | str:
    info = _HEADS.get(text)
    return _learn_head(text) if info is None else info


def _glue(count: int) -> list[str]:
    """The text between the values of `count` compact outcomes (split at the quotes)."""
    glue = _GLUES.get(count)
    if glue is None:
        glue = _GLUES[count] = (
            [""]
            if not count
            else ["<outcome id=", *_GLUE_NEXT * (count - 1), " odds=", " probabilities=", " active=", "/>"]
        )
    return glue


_GLUE_NEXT = (" odds=", " probabilities=", " active=", "/><outcome id=")
_GLUES: dict[int, list[str]] = {}
_PROBABILITIES = re.compile("[0-9.]*")

# (market head (or the market itself, count -1), outcome count, head text, market text), then
# the outcomes' ids, odds, probabilities and actives.
Columns = tuple[list[tuple], list, list, list, list]


def _compact(text: str, memo: dict[str, tuple[str, MarketOdds]] | None = None) -> Columns | None:
    """The usual message written without whitespace between elements, every outcome with id,
    odds, probabilities and active in that order: cut at "</market>" and at the quotes (C
    string operations, no regex). Returns the markets (head, outcome count, text) and the
    outcomes' columns; None for anything else (the token grammar then tries).

    `memo`: the event's markets as last read (head -> text, market). A market whose text is
    the same as then (a whole-event message where most lines did not move) is that market
    again: one string comparison instead of reading it (count -1 in the layout)."""
    if "&" in text:
        return None
    chunks = text.split("</market>")
    if chunks.pop():  # text after the last </market>
        return None
    layout = []
    values: list[str] = []  # the markets' splits one after another, 8 items an outcome
    heads, glues = _HEADS, _GLUES
    for chunk in chunks:
        gt = chunk.find(">")
        if gt < 0 or not chunk.startswith("<market "):
            return None
        head = chunk[8:gt]
        if memo is not None:
            last = memo.get(head)
            if last is not None and last[0] == chunk:
                layout.append((last[1], -1, head, chunk))
                continue
        info = heads.get(head) or _learn_head(head)
        if info is _OTHER or info[4]:
            return None
        parts = chunk[gt + 1 :].split('"')
        count = len(parts) >> 3
        # The glue between the quotes fixes every element and attribute (values hold no quote).
        if parts[0::2] != (glues.get(count) or _glue(count)):
            return None
        parts.pop()  # the glue after the last value: 8 items an outcome remain
        values += parts
        layout.append((info, count, head, chunk))
    ids = values[1::8]
    probabilities = values[5::8]
    joined = "".join(ids)
    # Values: ids printable without "<" or spaces (the parser would refuse the one, keep the
    # other where the reader strips it), probabilities digits and dots (so Decimal() of them is
    # finite), odds from the checked cache (or checked now), actives 0 or 1 (below). Control
    # characters and "&" are refused by the parser: this path leaves them to it.
    if (
        not joined.isprintable()
        or " " in joined
        or "<" in joined
        or "" in ids
        or not _PROBABILITIES.fullmatch("".join(probabilities))
    ):
        return None
    return layout, ids, values[3::8], probabilities, values[7::8]


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
    try:
        odds = list(map(_ODDS.__getitem__, raw_odds))
    except KeyError:
        odds = _learn_odds(raw_odds)
        if odds is None:
            return None
    try:
        # Probabilities are kept as the text str(Decimal()) gives: usually the text itself.
        if None in probabilities or not _plain_decimals(probabilities):
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


def _plain_decimals(values: list[str]) -> bool:
    """Whether each value (digits and dots only: the grammars' probabilities) is the text
    str(Decimal()) gives back for it: not empty, no leading zero or dot, no trailing dot, one
    dot at most (Decimal refuses the others), no "0.000000…" (an exponent). Substring searches
    (memchr-fast; a regex over the values measured ~100k instructions a message)."""
    text = f",{','.join(values)},"
    return not (
        ",," in text
        or ",." in text
        or ".," in text
        or ",0.000000" in text
        or text.count(",0") != text.count(",0.") + text.count(",0,")  # "01" (or "0,0": the slow way)
        or b".." in text.encode().translate(None, b"0123456789")  # two dots in one value
    )


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


def _remember(memo: dict[str, tuple[str, MarketOdds]], layout: list[tuple], markets: tuple[MarketOdds, ...]) -> int:
    """Keep the event's markets as read now for its next message (_compact's memo); returns how
    many were the same as last time. Keys and texts are strings, the markets immutable tuples."""
    global _MEMO_SIZE
    before = len(memo)
    same = 0
    for (_, count, head, text), market in zip(layout, markets, strict=True):
        if count >= 0:
            memo[head] = (text, market)
        else:
            same += 1
    _MEMO_SIZE += len(memo) - before
    return same


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
    inner = data[start:end]
    if not inner.isascii():  # ASCII reads the same in any encoding the declaration may name
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
        or b"<!" in skeleton
        or skeleton.find(b"<?", 1) >= 0
        or b"xmlns" in skeleton
    ):
        return None
    text = inner.decode("ascii")
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
    columns = _compact(text, memo)
    if columns is not None:
        markets = _markets(columns)
        if markets is not None and keep is not None and not _remember(keep, columns[0], markets) and memo:
            state[1] = _MEMO_REST  # nothing was the same
    else:
        columns = _tokens(text)
        markets = None if columns is None else _markets(columns)
    return None if markets is None else (skeleton, markets)
