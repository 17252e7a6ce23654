"""One strict JSON reader and one identifier rule wherever input comes in (issue #20):
callbacks (tests/wallet/{igpx,betsy}/test_never_stranded.py), the operator API and the ProphetX
WebSocket frames (here)."""

import io
from decimal import Decimal

import pytest
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient

from parlays.protocol import pusher
from parlays.protocol.pusher import ProtocolError
from tests.factories import make_api_key
from wallet import identifiers, money
from wallet.api.parsers import DecimalJSONParser
from wallet.api.serializers import PlayerCreateIn, TransferIn
from wallet.errors import InvalidAmount, InvalidRequest

# --- wallet.money.loads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"amount":"10","amount":"500"}', "duplicate key"),
        (b'{"a":{"b":1,"b":2}}', "duplicate key"),
        (b'[{"x":1},{"y":1,"y":1}]', "duplicate key"),
        (b'{"userId":"\\ud800"}', "lone UTF-16 surrogate"),
        (b'{"\\udfff":1}', "lone UTF-16 surrogate"),
        (b'["\\uDC00\\uD800"]', "lone UTF-16 surrogate"),
        (b'{"event":"A\\u0000B"}', "NUL"),
        (b'{"\\u0000":1}', "NUL"),
        (b"[" * 5000, "nested too deeply"),
        (b'{"a":' * 5000, "nested too deeply"),
        (b'{"amount":NaN}', "not a valid JSON number"),
    ],
)
def test_loads_refuses_what_readers_could_disagree_on(raw, why):
    with pytest.raises(ValueError, match=why):
        money.loads(raw)


def test_loads_keeps_what_is_fine():
    assert money.loads(b'{"e":"\\ud83d\\ude00","n":1.50,"a":{"x":1},"b":{"x":2}}') == {
        "e": "\U0001f600",
        "n": Decimal("1.50"),
        "a": {"x": 1},
        "b": {"x": 2},
    }
    assert money.loads('{"city":"caf\u00e9"}') == {"city": "caf\u00e9"}


# --- Payout amounts (docs/CALLBACKS.md, "Amounts finer than the currency") -------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "paid"),
    [
        ("6.1605", "USD", "6.17"),
        ("6.16", "USD", "6.16"),
        ("6.1600001", "USD", "6.17"),
        ("0.0001", "USD", "0.01"),
        ("0", "USD", "0"),
        ("12.3", "JPY", "13"),
        ("0.000000015", "BTC", "0.00000002"),
    ],
)
def test_payable_never_pays_less_than_owed(amount, currency, paid):
    owed = money.parse_payout(amount, currency)
    assert owed == Decimal(amount)
    assert money.payable(owed, currency) == Decimal(paid)
    assert money.is_rounded(owed, currency) == (Decimal(paid) != Decimal(amount))


@pytest.mark.parametrize("amount", ["-1", "1e3", "abc", "1." + "1" * 19, True, None, 1.5, "10000000000000000"])
def test_parse_payout_still_refuses_what_is_not_an_amount(amount):
    with pytest.raises(InvalidAmount):
        money.parse_payout(amount, "USD")


# --- Identifiers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["alice", "p-1", "a.b:c@d_e", "0", 12345, "x" * 64])
def test_the_identifier_rule_accepts(value):
    assert identifiers.parse_identifier(value, "id") == str(value)


@pytest.mark.parametrize(
    "value",
    ["", " alice", "alice ", "caf\u00e9", "cafe\u0301", "a\x00", "\ud800", "a/b", "a b", "x" * 65, True, 1.5, [], None],
)
def test_the_identifier_rule_refuses_rather_than_alters(value):
    with pytest.raises(InvalidRequest):
        identifiers.parse_identifier(value, "id")


def test_the_operator_api_refuses_padded_ids_instead_of_trimming_them():
    assert not PlayerCreateIn(data={"external_id": " alice", "currencies": ["EUR"]}).is_valid()
    assert not PlayerCreateIn(data={"external_id": "caf\u00e9", "currencies": ["EUR"]}).is_valid()
    assert PlayerCreateIn(data={"external_id": "alice", "currencies": ["EUR"]}).is_valid()
    assert not TransferIn(data={"reference": "d1 ", "currency": "EUR", "amount": "1"}).is_valid()
    assert TransferIn(data={"reference": "d1", "currency": "EUR", "amount": "1"}).is_valid()


# --- The operator API ---------------------------------------------------------------------------------


def test_the_operator_api_parser_refuses_duplicate_keys():
    body = b'{"reference":"d1","currency":"EUR","amount":"1.00","amount":"999999.00"}'
    with pytest.raises(ParseError, match="duplicate key 'amount'"):
        DecimalJSONParser().parse(io.BytesIO(body))
    with pytest.raises(ParseError, match="nested too deeply"):
        DecimalJSONParser().parse(io.BytesIO(b"[" * 5000))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/operator/players/%00/",
        "/api/operator/players/a%00b/deposits/",
        "/api/operator/players/%20alice/",
        "/api/operator/players/caf%C3%A9/",
        "/api/operator/players/" + "x" * 65 + "/",
    ],
)
def test_operator_api_paths_with_ids_outside_the_rule_are_404_in_the_api_format(path):
    client = APIClient(enforce_csrf_checks=True)
    assert client.get(path).status_code == 401  # authentication first, as on every operation
    _, key = make_api_key(scopes=("read",))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    for response in (client.get(path), client.post(path, {}, format="json")):
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"


# --- ProphetX WebSocket frames ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        '{"event":"a","event":"b"}',
        '{"event":"x","data":"{\\"line\\":1,\\"line\\":2}"}',
        '{"event":"\\ud800"}',
        "[" * 5000,
    ],
)
def test_pusher_frames_are_read_as_strictly(raw):
    with pytest.raises(ProtocolError):
        pusher.parse_frame(raw).decoded()
