"""`fastparse.parse_bet` reads the usual /payment/bet body into a typed object (issue #18): for
every body, usual or not, its answer must be `parsing.parse_bet`'s: the same BetCall field for
field (each value's type and written form: Decimals as written, the selections' keys in their
order) or the same refusal, code and message."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wallet.betsy.test_bad_input import PLACE_CASES
from tests.wallet.betsy.test_parse_fast_paths import _CASES, _ODD, _USUAL
from wallet.betsy import fastparse, parsing, protocol, simulator
from wallet.betsy.parsing import BetCall
from wallet.betsy.protocol import BetsyError

# (method, the operation's own fields), as the simulator sends them
_OPERATIONS = {
    "place": ("POST", {"type_": 1, "token": "t" * 40}),
    "won": ("PUT", {"type_": 2, "token": None, "resultType": "won"}),
    "lost": ("PUT", {"type_": 2, "token": None, "resultType": "lost", "amount": 0}),
    "cashout": ("PUT", {"type_": 2, "token": "t" * 40, "resultType": "cashout"}),
    "unsettle": ("PUT", {"type_": 1, "token": None}),
    "rollback": ("PUT", {"type_": 3, "token": None, "errorCode": 10}),
}


def _body(operation: str, **changes: Any) -> tuple[str, dict[str, Any]]:
    """(method, body) of the simulator's callback, with `changes` (`...` drops a field)."""
    method, own = _OPERATIONS[operation]
    values = {"amount": Decimal("2.50"), **own}
    body = simulator.Betsy(lambda request: None, "secret").bet_body(
        transaction_id="cpu1-t-7", user_id="cpu1-7", currency="USD", requestId="r-1", **values
    )
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return method, body


def _outcome(parse, method: str, raw: Any) -> tuple[Any, ...]:
    try:
        call = parse(method, raw)
    except BetsyError as error:
        return "refused", error.code, error.message
    return "ok", type(call), [(name, type(value), repr(value)) for name, value in vars(call).items()]


def _same(method: str, raw: Any) -> bool:
    """fastparse's answer is parsing's; True when fastparse answered it itself."""
    expected = _outcome(parsing.parse_bet, method, raw)
    assert _outcome(fastparse.parse_bet, method, raw) == expected
    taken = fastparse._usual_bet(method, raw) is not None
    assert not taken or expected[0] == "ok"  # a refusal is always parsing's own
    return taken


@pytest.mark.parametrize("operation", list(_OPERATIONS))
def test_the_usual_bodies_are_read_here(operation):
    method, body = _body(operation)
    raw = protocol.dumps(body)
    assert fastparse._encode(fastparse._decode(raw)) == raw  # the typed object's own encoding
    assert _same(method, raw)
    call = fastparse.parse_bet(method, raw)
    assert type(call) is BetCall and call == parsing.parse_bet(method, raw)


def test_a_multi_leg_place_is_read_here():
    legs = [
        simulator.selection(eventId=50601 + n, outcomeId=f"sr:outcome:{n}", coefficient=Decimal("1.25"))
        for n in range(3)
    ]
    method, body = _body("place", metadata=legs, ticketType="express")
    assert _same(method, protocol.dumps(body))
    assert fastparse.parse_bet(method, protocol.dumps(body)).bet_type == "multi"


@pytest.mark.parametrize("changes", _CASES, ids=repr)
@pytest.mark.parametrize("operation", list(_OPERATIONS))
def test_each_field_s_values_read_the_same(operation, changes):
    method, body = _body(operation, **changes)
    _same(method, protocol.dumps(body))


@pytest.mark.parametrize(("changes", "why"), PLACE_CASES, ids=[why for _, why in PLACE_CASES])
def test_bad_places_are_refused_with_parsing_s_message(changes, why):
    method, body = _body("place", **changes)
    raw = protocol.dumps(body)
    assert not _same(method, raw), why
    assert _outcome(fastparse.parse_bet, method, raw)[0] == "refused", why


@pytest.mark.parametrize("leg", [_USUAL, *_ODD, {}, {"stage": 1, "tournamentRegionCode": None}], ids=repr)
def test_each_leg_reads_the_same(leg):
    for metadata in ([leg], [simulator.selection(), leg], [leg, simulator.selection()]):
        method, body = _body("place", metadata=metadata)
        for _ in range(2):  # the second time with the event dates already read
            _same(method, protocol.dumps(body))


@pytest.mark.parametrize("operation", list(_OPERATIONS))
def test_every_field_left_out_or_null(operation):
    method, body = _body(operation)
    for name in list(body):
        _same(method, protocol.dumps({key: value for key, value in body.items() if key != name}))
        _same(method, protocol.dumps({**body, name: None}))
    for name in simulator.selection():
        for leg in (
            {k: v for k, v in simulator.selection().items() if k != name},
            {**simulator.selection(), name: None},
        ):
            _same(method, protocol.dumps({**body, "metadata": [leg]}))


def _place_text() -> str:
    return protocol.dumps(_body("place")[1]).decode()


def _settle_text() -> str:
    return protocol.dumps(_body("won")[1]).decode()


def _texts() -> list[tuple[str, str, str]]:
    """(why, method, body) written by hand: what a dict cannot say."""
    place, settle = _place_text(), _settle_text()
    cases = [
        ("duplicate amount, same value", place.replace('"amount":2.50,', '"amount":2.50,"amount":2.50,')),
        ("duplicate amount, other value", place.replace('"amount":2.50,', '"amount":9.50,"amount":2.50,')),
        ("duplicate type", place.replace('"type":1,', '"type":1,"type":1,')),
        ("duplicate key in a leg", place.replace('"eventId":50601,', '"eventId":1,"eventId":50601,')),
        ("duplicate metadata", place[:-1] + ',"metadata":[]}'),
        ("duplicate key inside info", place.replace('"info":', '"info":{"a":1,"a":1},"x":')),
        ("extra field", place[:-1] + ',"foo":1}'),
        ("extra field in a leg", place.replace('"stage":0', '"stage":0,"bar":null')),
        ("reordered", json.dumps(dict(reversed(list(json.loads(place).items()))), separators=(",", ":"))),
        ("spaces", place.replace('","', '", "').replace('":', '": ')),
        ("indented", json.dumps(json.loads(place), indent=2)),
        ("leading and trailing white space", f" \n{place}\n "),
        ("a colon in a string", place.replace('"ip":"203.0.113.7"', '"ip":"::1"')),
        ("a colon and a duplicate", place.replace('"ip":"203.0.113.7"', '"ip":"a:b","ip":"x"')),
        ("unicode", place.replace("Arsenal - Chelsea", "Ünïon – 東京 ⚽")),
        ("unicode escaped", place.replace("Arsenal - Chelsea", "\\u00dcn\\u00efon")),
        ("lone surrogate", place.replace("Arsenal - Chelsea", "\\ud800")),
        ("NUL", place.replace("Arsenal - Chelsea", "\\u0000")),
        ("non-ASCII id", place.replace('"cpu1-t-7"', '"cpu1-t-ü"')),
        ("raw control character", place.replace("Arsenal - Chelsea", "Arsenal\t-\tChelsea")),
        ("invalid UTF-8", place.replace("Arsenal", "Ars\udcffnal")),
        ("BOM", "\ufeff" + place),
        ("trailing garbage", place + "x"),
        ("two documents", place + place),
        ("cut short", place[:-1]),
        ("empty", ""),
        ("not JSON", "not json"),
        ("an array", f"[{place}]"),
        ("a string", '"x"'),
        ("null", "null"),
        ("deeply nested info", place.replace('"info":', '"info":' + "[" * 600 + "]" * 600 + ',"x":')),
        ("nested info", place.replace('"info":', '"info":' + "[" * 50 + "]" * 50 + ',"ip2":')),
        ("info an object", place.replace('"info":', '"info":{"x":[1,2.5,null]},"ip2":')),
        ("metadata null", place.split(',"metadata"')[0] + ',"metadata":null}'),
        ("metadata empty", place.split(',"metadata"')[0] + ',"metadata":[]}'),
        ("metadata an object", place.split(',"metadata"')[0] + ',"metadata":{}}'),
        ("metadata a leg of null", place.split(',"metadata"')[0] + ',"metadata":[null]}'),
        ("metadata an empty leg", place.split(',"metadata"')[0] + ',"metadata":[{}]}'),
        ("101 legs", place.split(',"metadata"')[0] + ',"metadata":[' + ",".join(["{}"] * 101) + "]}"),
        ("100 legs", place.split(',"metadata"')[0] + ',"metadata":[' + ",".join(["{}"] * 100) + "]}"),
        ("settle", settle),
        ("settle, metadata not an array", settle.split(',"metadata"')[0] + ',"metadata":7,"resultType":"won"}'),
        ("settle, duplicate in a leg", settle.replace('"eventId":50601,', '"eventId":1,"eventId":50601,')),
        ("settle, duplicate resultType", settle[:-1] + ',"resultType":"lost"}'),
    ]
    numbers = ["1.5e1", "1.5E1", "5.0", "5.00", "5", "2.50", "2.500", "2.5", "2.50E0", "25e-1", "-0", "0", "0.0"]
    numbers += ["0.00", "-2.50", "1e2", "1E400", "12345678901234567890123", "0.001", "1" * 30, "2.0", "-0.0"]
    for number in numbers:
        cases.append((f"amount {number}", place.replace('"amount":2.50,', f'"amount":{number},')))
        cases.append((f"settle amount {number}", settle.replace('"amount":2.50,', f'"amount":{number},')))
        cases.append((f"coefficient {number}", place.replace('"coefficient":2.0,"b', f'"coefficient":{number},"b')))
        cases.append((f"leg coefficient {number}", place.replace('"coefficient":2.0,"s', f'"coefficient":{number},"s')))
        cases.append((f"type {number}", place.replace('"type":1,', f'"type":{number},')))
        cases.append((f"bonusId {number}", place.replace('"bonusId":null', f'"bonusId":{number}')))
        cases.append((f"eventId {number}", place.replace('"eventId":50601', f'"eventId":{number}')))
    methods = [("POST", why, text) for why, text in cases if not why.startswith("settle")]
    methods += [("PUT", why, text) for why, text in cases if why.startswith("settle")]
    methods += [("post", "lower-case method", place), ("PATCH", "other method", place), ("PUT", "place as PUT", place)]
    return [(why, method, text) for method, why, text in methods]


@pytest.mark.parametrize(("why", "method", "text"), _texts(), ids=[why for why, _, _ in _texts()])
def test_bodies_written_by_hand_read_the_same(why, method, text):
    raw = text.encode("utf-8", "surrogateescape")
    taken = _same(method, raw)
    if why.startswith("duplicate") or "duplicate" in why or why in ("extra field", "BOM", "lone surrogate", "NUL"):
        assert not taken, why


def test_a_body_that_is_not_bytes_goes_to_parsing():
    raw = protocol.dumps(_body("place")[1])
    assert fastparse._usual_bet("POST", bytearray(raw)) is None
    assert fastparse._usual_bet("POST", raw.decode()) is None  # type: ignore[arg-type]
    _same("POST", raw.decode())


# --- Random bodies: fields changed, left out, written twice, spaced out -------------------------


class _Number(str):
    """A JSON number written as given."""


_values = st.sampled_from(
    [None, True, 0, 1, -1, 3, 10**19, 10**70, "", "x", "won", "lost", "USD", "JPY", "t" * 10, "t" * 65, "a:b"]
    + [_Number(text) for text in ("2.50", "2.5", "2.500", "5.00", "1.5e1", "0.0", "-2.50", "2.0", "0.001")]
    + [[], {}, ["x"], {"a": 1}]
)
_fields = st.sampled_from(
    ["amount", "currency", "type", "token", "resultType", "errorCode", "transactionId", "requestId", "userId"]
    + ["coefficient", "subPartnerId", "bonusId", "bonusTemplateId", "bonusAmount", "ticketType", "info", "metadata"]
    + ["other"]
)
_leg_fields = st.sampled_from(list(simulator.selection()) + ["other"])


def _render(pairs: list[tuple[str, Any]], draw: Any) -> str:
    space = draw(st.sampled_from(["", "", "", " ", "\n"]))
    return "{" + ",".join(f"{space}{json.dumps(key)}{space}:{_text(value, draw)}" for key, value in pairs) + "}"


def _text(value: Any, draw: Any) -> str:
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return _render(value, draw)
    if isinstance(value, list):
        return "[" + ",".join(_text(item, draw) for item in value) + "]"
    if isinstance(value, dict):
        return _render(list(value.items()), draw)
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


def _changed(pairs: list[tuple[str, Any]], draw: Any, fields: Any) -> list[tuple[str, Any]]:
    for _ in range(draw(st.integers(0, 3))):
        name, action = draw(fields), draw(st.sampled_from(["set", "set", "drop", "twice"]))
        if action == "set":
            value = draw(_values)
            pairs = [(key, value if key == name else old) for key, old in pairs]
            if name not in dict(pairs):
                pairs.append((name, value))
        elif action == "drop":
            pairs = [(key, old) for key, old in pairs if key != name]
        elif name in dict(pairs):
            pairs.insert(
                draw(st.integers(0, len(pairs))), (name, draw(_values) if draw(st.booleans()) else dict(pairs)[name])
            )
    return pairs


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_random_bodies_read_the_same(data):
    operation = data.draw(st.sampled_from(list(_OPERATIONS)))
    method, body = _body(operation)
    legs = [_changed(list(leg.items()), data.draw, _leg_fields) for leg in body["metadata"]]
    pairs = _changed([(key, value) for key, value in body.items() if key != "metadata"], data.draw, _fields)
    if data.draw(st.booleans()):
        pairs.append(("metadata", legs))
    _same(method, _render(pairs, data.draw).encode())


# --- The ids remembered (transactionId, userId) ---------------------------------------------------


def test_only_ids_that_pass_the_rule_are_remembered(monkeypatch):
    monkeypatch.setattr(fastparse, "_known_ids", {})
    method, body = _body("place", transactionId="cpu9-t-1", userId="cpu9-1", requestId="r-9")
    assert _same(method, protocol.dumps(body))
    assert set(fastparse._known_ids) == {"cpu9-t-1", "cpu9-1"}  # not the requestId, new on every callback
    for _ in range(2):  # an id that breaks the rule is read again each time, and refused by parsing
        for field in ("userId", "transactionId"):
            method, body = _body("won", **{field: "cpu9/1"})
            assert not _same(method, protocol.dumps(body))
            with pytest.raises(BetsyError) as refused:
                fastparse.parse_bet(method, protocol.dumps(body))
            assert refused.value.message.startswith(f"{field} must be 1-64 characters")
    assert "cpu9/1" not in fastparse._known_ids
    method, body = _body("won", transactionId="cpu9-t-1", userId="cpu9-1")
    assert _same(method, protocol.dumps(body))  # remembered: the same answer


def test_the_remembered_ids_are_emptied_when_full(monkeypatch):
    monkeypatch.setattr(fastparse, "_known_ids", {})
    monkeypatch.setattr(fastparse, "_KNOWN_IDS_KEPT", 3)
    for n in range(4):
        method, body = _body("won", transactionId=f"cpu9-t-{n}", userId="cpu9-1")
        assert _same(method, protocol.dumps(body))
    assert set(fastparse._known_ids) == {"cpu9-t-2", "cpu9-1", "cpu9-t-3"}  # emptied at the third id
