"""`money.loads` reads with msgspec first (issue #18): whatever it returns or refuses must be exactly
what the json reader alone (`money._DECODER`) gives, numbers never going through a float."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wallet.betsy.test_bad_input import PLACE_CASES
from wallet import money
from wallet.betsy import parsing, protocol, simulator
from wallet.igpx import protocol as igpx_protocol


@contextlib.contextmanager
def _json_only() -> Iterator[None]:
    """money.loads without the fast reader: as it was before it."""
    fast, money._fast = money._fast, lambda raw: money._SLOW
    try:
        yield
    finally:
        money._fast = fast


def _slow(raw: bytes | str) -> Any:
    with _json_only():
        return money.loads(raw)


def _outcome(read, *args) -> tuple[str, Any]:
    try:
        value = read(*args)
    except Exception as error:  # noqa: BLE001  (any refusal: its type and words are compared)
        return "refused", (type(error), str(error))
    return "ok", (value, _types(value))


def _types(value: Any) -> Any:
    """The value's shape with every type named (Decimal('1') == 1: equality alone would not tell)."""
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    if dataclasses.is_dataclass(value):
        return _types(dataclasses.asdict(value))
    return type(value), repr(value)


def _same(raw: bytes) -> Any:
    fast = _outcome(money.loads, raw)
    assert fast == _outcome(_slow, raw), raw
    return fast


ODD_NUMBERS = [
    (b"0.1", Decimal("0.1")),
    (b"1e400", Decimal("1e400")),
    (b"1E-400", Decimal("1e-400")),
    (b"-1.5e+3", Decimal("-1.5e3")),
    (b"123456789012345678901234567890.123456789", Decimal("123456789012345678901234567890.123456789")),
    (b"0.30000000000000000000000000000001", Decimal("0.30000000000000000000000000000001")),
    (b"-0.0", Decimal("-0.0")),
    (b"10.00", Decimal("10.00")),
    (b"123456789012345678901234567890", 123456789012345678901234567890),
    (b"-18446744073709551617", -18446744073709551617),
    (b"9007199254740993", 9007199254740993),  # 2**53 + 1: not a float
    (b"-0", 0),
]


@pytest.mark.parametrize(("text", "expected"), ODD_NUMBERS, ids=[text.decode() for text, _ in ODD_NUMBERS])
def test_numbers_come_back_exact_and_never_as_floats(text, expected):
    raw = b'{"n":' + text + b',"l":[' + text + b"]}"
    assert money._fast(raw) is not money._SLOW  # read by msgspec
    data = money.loads(raw)
    for value in (data["n"], data["l"][0]):
        assert type(value) is type(expected) or isinstance(value, money.ExponentDecimal)
        assert value == expected and str(value) == str(expected)
        assert isinstance(value, money.ExponentDecimal) == (b"e" in text.lower())
    _same(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount":"10","amount":"500"}',
        b'{"a":{"b":1,"b":2}}',
        b'[{"x":1},{"y":1,"y":1}]',
        b'{"a":"x:y","a":"z"}',
        b'{"a":":","b":{"c":"d:e","c":{"f:g":1}}}',
        b'{ "a" : 1 , "a" : 1 }',
        b'{"a":1,"b":{"a":1},"a":2}',
        b'{"userId":"\\ud800"}',
        b'{"event":"A\\u0000B"}',
        b'{"e":"\\ud83d\\ude00","n":1.50}',
        b'{"city":"caf\\u00e9"}',
        '{"city":"caf\u00e9"}'.encode(),
        b"\xef\xbb\xbf{}",
        b"\xff\xfe",
        '{"a":1}'.encode("utf-16"),
        b'{"a":1} x',
        b"",
        b"not json",
        b'{"type":1,"amount":NaN}',
        b'{"amount":Infinity}',
        b"01",
        b"1.",
        b"[" * 5000,
        b'{"a":' * 200 + b"1" + b"}" * 200,
        b"1" * 5000,
        b'"a\x01"',
        b" \t\r\n[1, 2 ,3]\n",
        b'{"a":"\xed\xa0\x80"}',
    ],
)
def test_what_the_fast_reader_would_get_wrong_is_read_by_json(raw):
    _same(raw)


class _Number(str):
    """A JSON number's text, written as it is."""


@pytest.mark.parametrize("depth", [513, 900])
def test_nesting_that_could_reach_the_recursion_limit_is_read_by_json(depth):
    raw = b"[" * depth + b"]" * depth
    assert money._fast(raw) is money._SLOW
    assert money.loads(raw) == json.loads(raw)


_json_keys = st.sampled_from(["a", "b", "c:d", "amount", "é", ""])
_json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from(["0.1", "1e5", "-0.0", "2.50", "1E-9"]).map(lambda text: _Number(text)),
    st.text(alphabet='ab:"\\ é\u0000', max_size=6),
)


def _render(value: Any, draw: Any) -> str:
    """JSON text of `value` with random whitespace and, now and then, a key written twice."""
    space = draw(st.sampled_from(["", " ", "\n"]))
    if isinstance(value, list) and value and isinstance(value[0], tuple):  # an object's pairs
        return "{" + ",".join(f"{space}{json.dumps(k)}{space}:{_render(v, draw)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_render(item, draw) for item in value) + space + "]"
    if isinstance(value, _Number):
        return str(value)
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


_json_values = st.recursive(
    _json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.lists(st.tuples(_json_keys, inner), min_size=1, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_json_reads_the_same_both_ways(data):
    text = _render(data.draw(_json_values), data.draw)
    _same(text.encode("utf-8", "surrogatepass"))


def _betsy() -> simulator.Betsy:
    return simulator.Betsy(lambda request: None, "secret")


def _place(**changes: Any) -> bytes:
    body = _betsy().bet_body(type_=1, transaction_id="tx-1", user_id="alice", currency="USD", amount=5, token="t" * 20)
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return protocol.dumps(body)


@pytest.mark.parametrize(("changes", "why"), [({}, "fine"), *PLACE_CASES], ids=["fine", *[w for _, w in PLACE_CASES]])
def test_betsy_place_fixtures_parse_the_same_both_ways(changes, why):
    raw = _place(**changes)
    fast = _outcome(parsing.parse_bet, "POST", raw)
    with _json_only():
        assert fast == _outcome(parsing.parse_bet, "POST", raw), why


def test_the_usual_callback_bodies_take_the_fast_reader():
    betsy = _betsy()
    settle = betsy.bet_body(
        type_=2, transaction_id="tx-1", user_id="alice", currency="USD", amount=10, token=None, resultType="won"
    )
    igpx = b'{"user_id":"alice","transaction_id":"tx-1","round_id":"r-1","amount":"5.00","currency":"USD"}'
    for raw in (_place(), protocol.dumps(settle), igpx):
        assert money._fast(raw) is not money._SLOW
        _same(raw)
    fast = _outcome(igpx_protocol.parse_transaction, igpx)
    with _json_only():
        assert fast == _outcome(igpx_protocol.parse_transaction, igpx)
