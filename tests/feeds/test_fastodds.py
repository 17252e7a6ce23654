"""The odds_change fast path (feeds.protocol.fastodds): markets read from the text give the
same message as the tree-based parser, on the samples, the bench's messages and every odd
shape below, and refuse (through the full parser) what it refuses, with the same reason."""

from __future__ import annotations

import random

import pytest

from bench._feed_messages import TS_PLACEHOLDER, make_messages
from feeds.protocol import fastodds
from feeds.protocol import messages as m
from feeds.protocol.errors import MalformedMessage, UnsafeXml
from feeds.protocol.xmlsafe import parse_fast, prepare
from feeds.simulator import FEED_SAMPLES
from tests.feeds.helpers import sample


def _outcome(parse, body: bytes):
    try:
        return parse(body)
    except MalformedMessage as exc:
        return ("refused", type(exc).__name__, str(exc))


def _agree(body: bytes):
    """The message (or refusal) from parse_message, checked against the tree-only reading; twice,
    the second time with the value caches warm."""
    for _ in range(2):
        fast = _outcome(m.parse_message, body)
        full = _outcome(lambda b: m.parse_element(parse_fast(b)), body)
        assert fast == full
    return fast


def _taken(body: bytes) -> bool:
    m.parse_message(body)  # learn the odds values first, as the consumer has
    return fastodds.split_odds(prepare(body)) is not None


def _doc(odds_inner: str, odds_attrs: str = "", rest: str = "") -> bytes:
    return (
        f'<odds_change product="1" event_id="sr:match:1" timestamp="1700000000000">{rest}'
        f"<odds{odds_attrs}>{odds_inner}</odds></odds_change>"
    ).encode()


PLAIN = (
    '<market favourite="1" status="1" id="18" specifiers="total=2.5">'
    '<outcome id="12" odds="1.85" probabilities="0.48935" active="1"/>'
    '<outcome id="13" odds="1.95" probabilities="0.51065" active="1"/></market>'
)


@pytest.mark.parametrize("name", [n for n in FEED_SAMPLES if n.startswith("odds_change")])
def test_every_odds_change_sample_reads_the_same(name):
    _agree(sample(name))


def test_the_bench_messages_read_the_same_and_take_the_fast_path():
    for i, (_, body) in enumerate(make_messages(60, 10, seed=7)):
        body = body.replace(TS_PLACEHOLDER, str(1_700_000_000_000 + i).encode())
        msg = _agree(body)
        assert isinstance(msg, m.OddsChange) and len(msg.markets) >= 10
        assert _taken(body)


def test_a_plain_market_takes_the_fast_path():
    body = _doc(PLAIN)
    msg = _agree(body)
    assert _taken(body)
    (market,) = msg.markets
    assert (market.id, market.specifiers, market.status, market.favourite) == (18, "total=2.5", 1, True)
    assert [(o.id, str(o.odds), str(o.probability), o.active) for o in market.outcomes] == [
        ("12", "1.85", "0.48935", True),
        ("13", "1.95", "0.51065", True),
    ]


# Shapes the fast path reads itself (taken) and shapes it hands to the full parser: either way
# the same message.
TAKEN = [
    PLAIN,
    "",
    "\n  " + PLAIN.replace("><", ">\n    <") + "\n",  # pretty-printed
    '<market status="-3" id="68" specifiers="total=1.5"/>' + PLAIN,  # self-closing
    '<market status="1" id="10" >' + '<outcome id="11" probabilities="0.92105" active="0"/></market>',  # no odds
    '<market id="10"><outcome id="9" odds="3.9"/><outcome id="10" odds="1.08" active="0"/></market>',
    '<market id="10" foo="bar"><outcome id="sr:player:1" odds="101.0" probabilities="0.001"/></market>',
    '<market id="007" status="0" favourite="0"><outcome id="1" odds="2.00" probabilities="0"/></market>',
    '<market id="18" specifiers="total=2.5|x=1"><outcome id="1" odds="2.5"/></market>',
    PLAIN + PLAIN,  # the same line twice: kept twice, as the parser does
]
FALLBACK = [
    PLAIN.replace('"/></market>', '"/><market_metadata next_betstop="1700000000"/></market>'),
    PLAIN.replace('id="18"', 'id="18" extended_specifiers="x=1"'),
    PLAIN.replace('id="18"', 'id="18" cashout_status="1"'),
    PLAIN.replace('active="1"', 'active="1" team="1"', 1),
    PLAIN.replace('probabilities="0.48935"', 'probabilities="4.8935E-1"'),
    PLAIN.replace('favourite="1"', 'favourite="true"'),
    PLAIN.replace('status="1"', 'status=" 1"'),
    PLAIN.replace('odds="1.85"', "odds='1.85'"),
    PLAIN.replace('id="12"', 'id="1&amp;2"'),
    PLAIN.replace("<market ", "<market\n"),
    PLAIN + "text",
    "<!-- a comment -->" + PLAIN,
    '<market xmlns="urn:x" id="12"><outcome id="1" odds="1.5"/></market>',
    PLAIN.replace('"total=2.5"', '"total=2.5 \u00e9"'),  # not ASCII
    PLAIN + "</odds><odds>" + PLAIN,  # two <odds>: the parser reads the first
]
REFUSED = [
    PLAIN.replace('odds="1.85"', 'odds="0"'),
    PLAIN.replace('odds="1.85"', 'odds="1..85"'),
    PLAIN.replace('probabilities="0.48935"', 'probabilities="0..4"'),
    PLAIN.replace('id="18"', 'id="0"'),
    PLAIN.replace('id="18"', 'id="18" id="19"'),  # an attribute twice
    PLAIN.replace('"total=2.5"', '"total"'),
    PLAIN.replace("</market>", ""),  # unclosed
    PLAIN.replace("</market>", "</market></market>"),
    PLAIN.replace('<outcome id="13"', '<market id="2"><outcome id="13"'),  # nested
    PLAIN.replace('id="12"', 'id=""'),
    PLAIN.replace('id="12"', 'id="1&bogus;2"'),  # an undefined entity
    PLAIN.replace('id="12"', 'id="1<2"'),
    PLAIN.replace('odds="1.85"', 'odds="1<85"'),
    PLAIN.replace('probabilities="0.48935"', 'probabilities="0<4"'),
    PLAIN.replace('active="1"', 'active="<"', 1),
    PLAIN.replace('id="12"', 'id="1\x012"'),  # a control character
]


@pytest.mark.parametrize("inner", TAKEN)
def test_shapes_the_fast_path_reads(inner):
    body = _doc(inner)
    assert isinstance(_agree(body), m.OddsChange)
    assert _taken(body)


@pytest.mark.parametrize("inner", FALLBACK)
def test_shapes_left_to_the_full_parser(inner):
    body = _doc(inner)
    assert isinstance(_agree(body), m.OddsChange)
    assert fastodds.split_odds(prepare(body)) is None


@pytest.mark.parametrize("inner", REFUSED)
def test_refusals_are_the_full_parsers(inner):
    refused = _agree(_doc(inner))
    assert refused[0] == "refused"


def test_the_rest_of_the_message_still_goes_through_the_parser():
    # odds attributes, status, generation properties: read from the parsed rest.
    body = _doc(
        PLAIN,
        ' betting_status="2" betstop_reason="3"',
        '<sport_event_status status="1" match_status="6" home_score="1" away_score="0"/>'
        '<odds_generation_properties expected_totals="2.5" expected_supremacy="0.25"/>',
    )
    msg = _agree(body)
    assert _taken(body)
    assert (msg.betting_status, msg.betstop_reason, str(msg.expected_totals)) == (2, 3, "2.5")
    assert msg.sport_event_status.home_score == "1"
    broken = body.replace(b'timestamp="1700000000000"', b'timestamp="-1"')
    assert _agree(broken)[0] == "refused"
    assert _agree(body.replace(b"</odds_change>", b""))[0] == "refused"


# The rest of the message (root attributes, sport_event_status, odds attributes): the usual one
# read by messages._rest_fast, the others by parse_odds_change; the same message either way.
STATUS = '<sport_event_status status="1" reporting="1" match_status="6" home_score="0" away_score="1">'
RESTS = [
    ("", STATUS + '<clock match_time="3:00"/></sport_event_status>', True),
    ("", STATUS.replace('home_score="0"', 'home_score=" 2 "') + "</sport_event_status>", True),
    ("", STATUS.replace('home_score="0" ', 'home_score="" ') + "</sport_event_status>", True),
    ("", '<sport_event_status status="0"/>', True),
    ("", "", True),
    (' request_id="7"', "", False),
    (' odds_change_reason="1"', "", False),
    ("", STATUS.replace('status="1"', 'status=" 1"') + "</sport_event_status>", False),
    ("", STATUS.replace('match_status="6"', 'match_status="-6"') + "</sport_event_status>", False),
    ("", STATUS + '<period_scores><period_score home_score="1"/></period_scores></sport_event_status>', False),
    ("", STATUS + '<clock match_time="3:00"><x/></clock></sport_event_status>', False),
    ("", STATUS + '<results><result home_score="1" away_score="0"/></results></sport_event_status>', False),
    ("", '<sport_event_status status="1"/><sport_event_status status="2"/>', False),
    ("", '<odds_generation_properties expected_totals="2.5"/>', False),
    ("", "<foo/>", False),
]


@pytest.mark.parametrize(("root", "rest", "fast"), RESTS)
def test_the_usual_rest_is_read_as_the_general_reader_reads_it(root, rest, fast):
    from feeds.protocol.xmlsafe import parse_prepared

    body = _doc(PLAIN, rest=rest).replace(b'timestamp="1700000000000"', b'timestamp="1700000000000"' + root.encode())
    msg = _agree(body)
    assert isinstance(msg, m.OddsChange) and _taken(body)
    skeleton, markets = fastodds.split_odds(prepare(body))
    read = m._rest_fast(parse_prepared(skeleton), markets)
    assert (read is not None) == fast
    if read is not None:
        assert read == m.parse_odds_change(parse_prepared(skeleton), markets) == msg
    for odd in (b'product="x1"', b'product="\xd9\xa3"', b'product=" 1"'):
        _agree(body.replace(b'product="1"', odd))
    for odd in (b'"sr:match:1 "', b'"sr:match:x"', b'"sr:match:1\n"'):
        _agree(body.replace(b'"sr:match:1"', odd))


HOSTILE = [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
    + _doc(PLAIN.replace('id="12"', 'id="&lol2;"')),
    b'<!DOCTYPE odds_change SYSTEM "http://example.com/x.dtd">' + _doc(PLAIN),
    _doc(PLAIN).replace(b"<odds>", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><odds>'),
]


@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_xml_is_still_refused(body):
    with pytest.raises(UnsafeXml):
        m.parse_message(body)
    assert _agree(body)[1] == "UnsafeXml"


def test_a_processing_instruction_or_namespace_outside_the_odds_leaves_the_fast_path():
    for body in (
        _doc(PLAIN, rest="<?pi <odds>?>"),
        _doc(PLAIN).replace(b"<odds_change ", b'<odds_change xmlns="urn:x" '),
        _doc(PLAIN, rest="<odds/>"),
    ):
        _agree(body)
        assert fastodds.split_odds(prepare(body)) is None


def _odds_text(body: bytes) -> str:
    return body[body.index(b"<odds>") + 6 : body.rindex(b"</odds>")].decode()


def test_the_compact_cut_and_the_token_grammar_read_alike():
    # The bench's messages are written without whitespace: the compact cut reads them; the
    # token grammar must read them alike (it reads the pretty-printed ones).
    for i, (_, body) in enumerate(make_messages(30, 10, seed=3)):
        m.parse_message(body.replace(TS_PLACEHOLDER, str(i).encode()))  # learn the odds
        text = _odds_text(body)
        compact = fastodds._compact(text)
        assert compact is not None
        assert tuple(compact[0]) == fastodds._markets(fastodds._tokens(text))
    pretty = _odds_text(_doc("\n  " + PLAIN.replace("><", ">\n    <") + "\n"))
    assert fastodds._compact(pretty) is None and fastodds._tokens(pretty) is not None


# Odd texts for the compact cut (at "</market><market ", the start tag's end and the quotes):
# whatever it cuts, it takes only the layout's glue in its place.
ODD_CUTS = [
    PLAIN.replace('active="1"/><outcome id="13"', 'active="1"/>"<outcome id="13"'),
    PLAIN.replace('id="13"', 'id="/></market><market id="5"><outcome id="13"'),
    PLAIN.replace('odds="1.95"', 'odds="1.95"/></market><market id="5"><outcome id="1" odds="2"'),
    PLAIN.replace('"/></market>', '"/></market>x'),
    PLAIN.replace("<market ", "<market  "),
    PLAIN.replace('"><outcome id="12"', '" ><outcome id="12"'),
    PLAIN.replace('active="1"/>', 'active="1" />', 1),
    PLAIN.replace(' odds="1.85" probabilities="0.48935"', ' probabilities="0.48935" odds="1.85"'),
    PLAIN.replace('probabilities="0.48935"', 'probabilities="0.48935" probabilities="0.5"'),
    PLAIN.replace("</market>", "</market ></market>"),
    PLAIN + '<market id="2"><outcome id="1" odds="2" probabilities="0.5" active="1"></outcome></market>',
    PLAIN[:-9],
    '<market id="1"><outcome id="1" odds="2"/></market>',  # 4 values, not 8
]


@pytest.mark.parametrize(
    "inner",
    [
        PLAIN.replace('id="12"', 'id="1 2"'),  # the parser keeps the space, the reader would strip
        PLAIN.replace('id="12"', 'id="1\t2"'),  # the parser reads a tab in a value as a space
        PLAIN.replace('odds="1.85"', 'odds=" 1.85"'),
        PLAIN.replace('probabilities="0.48935"', 'probabilities="1_0"'),  # Decimal() would take it
        PLAIN.replace('active="1"', 'active="true"', 1),
        PLAIN.replace('active="1"', 'active="1" team="2"', 1),
        PLAIN.replace('"/><outcome', '"/>x<outcome'),
        PLAIN.replace('<outcome id="12" odds="1.85" probabilities="0.48935" active="1"/>', ""),
        '<market id="1"></market>',
        *ODD_CUTS,
    ],
)
def test_values_the_compact_cut_must_not_take_as_they_are(inner):
    body = _doc(inner)
    _agree(body)
    text = _odds_text(body)
    compact = fastodds._compact(text)
    if compact is not None:  # taken: then read exactly as the parser reads it
        assert tuple(compact[0]) == m.parse_element(parse_fast(body)).markets


def test_the_compact_cut_takes_only_its_one_layout():
    # Each is one edit away from the layout; the cut must leave every one (some piece between
    # the values is not the layout's glue in its place), while the layout itself, with odd but
    # plain values, is taken.
    for inner in ODD_CUTS:
        text = _odds_text(_doc(inner))
        m.parse_message(_doc(PLAIN))  # the odds known
        assert fastodds._compact(text) is None, inner
    for inner in (PLAIN, PLAIN.replace('id="12"', 'id="sr:player:1/>"'), PLAIN + PLAIN.replace('"18"', '"19"')):
        body = _doc(inner)
        compact = fastodds._compact(_odds_text(body))
        assert compact is not None and tuple(compact[0]) == m.parse_element(parse_fast(body)).markets


# --- the per-event memo: a market re-sent with the same text -------------------------------------


def _mix(n: int, events: int = 3, seed: int = 5) -> list[bytes]:
    from bench._feed_messages import make_mix_messages

    return [
        body.replace(TS_PLACEHOLDER, str(1_700_000_000_000 + i).encode())
        for i, (_, body) in enumerate(make_mix_messages(n, events, lines=12, moved=2, seed=seed))
    ]


def test_markets_re_sent_unchanged_are_reused_and_read_the_same():
    fastodds._MEMO.clear()
    last: dict[str, dict[tuple[int, str], m.MarketOdds]] = {}
    reused = 0
    for body in _mix(40):
        msg = m.parse_message(body)
        assert msg == m.parse_element(parse_fast(body))
        before = last.get(msg.event_urn, {})
        reused += sum(1 for mk in msg.markets if before.get((mk.id, mk.specifiers)) is mk)
        last[msg.event_urn] = {(mk.id, mk.specifiers): mk for mk in msg.markets}
    assert reused > 300  # 37 messages seen before: 10 of their 12 lines did not move


def test_a_moved_market_after_reuse_is_read_again():
    fastodds._MEMO.clear()
    first = _doc(PLAIN + PLAIN.replace('id="18"', 'id="19"'))
    moved = first.replace(b'odds="1.95"', b'odds="2.05"', 1)  # market 18 moves, 19 does not
    a, b = m.parse_message(first), m.parse_message(moved)
    assert b.markets[1] is a.markets[1]
    assert b.markets[0] is not a.markets[0] and str(b.markets[0].outcomes[1].odds) == "2.05"
    assert b == m.parse_element(parse_fast(moved))


def test_the_memo_rests_for_an_event_whose_markets_never_repeat():
    fastodds._MEMO.clear()
    bodies = [body.replace(TS_PLACEHOLDER, str(i).encode()) for i, (_, body) in enumerate(make_messages(4, 1, seed=11))]
    rests = []
    for body in bodies:  # one event, every odds new
        m.parse_message(body)
        ((_, rest),) = fastodds._MEMO.values()
        rests.append(rest)
    # The first message is kept; the second repeats nothing: the memo rests from the third on.
    assert rests == [0, fastodds._MEMO_REST, fastodds._MEMO_REST - 1, fastodds._MEMO_REST - 2]


@pytest.mark.django_db
def test_stored_lines_are_the_same_with_and_without_the_fast_path(monkeypatch):
    from feeds.models import Market
    from feeds.services import store
    from tests.feeds.helpers import apply

    def lines() -> list[tuple]:
        return sorted(
            (mk.event.urn, mk.market_id, mk.specifiers, mk.status, mk.outcomes, mk.odds_ts, mk.last_ts)
            for mk in Market.objects.select_related("event")
        )

    bodies = _mix(30)
    fastodds._MEMO.clear()
    for start in range(0, 30, 7):
        apply(*bodies[start : start + 7])
    fast = lines()
    Market.objects.all().delete()
    store.CACHE.invalidate()
    monkeypatch.setattr(m, "split_odds", lambda data: None)  # the tree-only reading
    for start in range(0, 30, 7):
        apply(*bodies[start : start + 7])
    assert lines() == fast and len(fast) >= 30


_ODD_VALUES = ["1.50", "2.0", "1e1", "01.5", ".5", "5.", "0.0000001", "0.000000", "", "1", "0", "true", "10", "1_0"]
_ODD_VALUES += [" 2", "2 ", "NaN", "-1", "a\\b", "1..2", "12", "13", "0.5", "2", "Infinity", "0.50", "00"]


def _mutated(rng: random.Random, text: str) -> str:
    """One random edit of an odds element's content: a value replaced by an odd one (or by
    a neighbour's: repeated ids), a character replaced, dropped or doubled, a piece moved."""
    kind = rng.randrange(5)
    if kind < 2:  # a quoted value
        quotes = [i for i, ch in enumerate(text) if ch == '"']
        at = rng.randrange(0, len(quotes) - 1, 2)
        start, end = quotes[at] + 1, quotes[at + 1]
        return text[:start] + rng.choice(_ODD_VALUES) + text[end:]
    at = rng.randrange(len(text))
    if kind == 2:
        return text[:at] + rng.choice('"<>/= 01.9aE-&\\x\t') + text[at + 1 :]
    if kind == 3:
        return text[:at] + text[at + 1 :]
    piece = text[at : at + rng.randrange(1, 20)]
    to = rng.randrange(len(text))
    return text[:to] + piece + text[to:]


def test_random_edits_of_the_bench_messages_read_as_the_full_parser_reads_them():
    # The compact cut's shortcuts (the odds cache with their plainness, all-active outcomes found
    # by one count, a market's ids one tuple per shape) against the tree reading: every edited
    # message reads the same, or is refused with the same reason.
    rng = random.Random(17)
    taken = 0
    for i, (_, body) in enumerate(make_messages(40, 8, seed=11) * 10):
        body = body.replace(TS_PLACEHOLDER, str(1_700_000_000_000 + i).encode())
        start, end = body.index(b"<odds>") + 6, body.rindex(b"</odds>")
        text = body[start:end].decode()
        for _ in range(rng.randrange(1, 3)):
            text = _mutated(rng, text)
        edited = body[:start] + text.encode() + body[end:]
        _agree(edited)
        taken += fastodds.split_odds(prepare(edited)) is not None
    assert 40 < taken < 360  # both ways taken: the fast path and the fallback
