"""Fuzz every provider callback with signed, mutated bodies (issue #20).

Each example takes a valid request of one callback (IGPX bet, result, rollback; Betsy profile,
balance, place, settle, unsettle, rollback, check), mutates it (a field replaced by any JSON
value or a hostile string, a field dropped, a key duplicated, nesting, bytes flipped, inserted
or cut), signs it with the provider's real secret and sends it through Django, as the provider
would. Whatever comes back must be:
- never a 5xx, never IGPX's INTERNAL_ERROR or Betsy's code 100 (both mean "we crashed, retry");
- in the provider's format (IGPX: a JSON object with `error`; Betsy: its success body, or
  HTTP 400 `{"code", "message"}` with a code from its list, signed);
- on a refusal, no change to money: ledger entries, bets, settlements, debts and every
  balance as they were (a stored decline and a review item for staff are not money).
`check_ledger` runs after the test (tests/conftest.py).

Bounded in time: TOUCHLINE_FUZZ_EXAMPLES per provider (default 400: about 20-50 s in all on a
busy 2-core machine). The examples are derived from a fixed seed, so CI is repeatable; set
TOUCHLINE_FUZZ_RANDOM=1 to explore new ones locally.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import fund, make_player
from wallet.betsy import protocol as betsy_protocol
from wallet.igpx import protocol as igpx_protocol
from wallet.models import Account, Bet, Debt, LedgerEntry, Settlement

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("TOUCHLINE_FUZZ_EXAMPLES", "400"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("TOUCHLINE_FUZZ_RANDOM") != "1",
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
IGPX_SECRET = "igpx-fuzz-secret"


def money_state() -> tuple:
    """Everything a callback could change that is money."""
    balances = tuple(
        Account.objects.filter(kind="player").order_by("pk").values_list("balance", "bonus_balance", "debt_balance")
    )
    counts = tuple(model.objects.count() for model in (LedgerEntry, Bet, Settlement, Debt))
    return counts, balances


# --- Mutations ---------------------------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "\udfff",
        "caf\u00e9",
        "cafe\u0301",
        "alice ",
        " alice",
        "ALICE",
        "x" * 129,
        "x" * 5000,
        "1e3",
        "NaN",
        "-0",
        "-5",
        "0.000000001",
        "6.1605",
        "99999999999999999999",
        "rb-1",
        "b-1",
        "r-1",
        "tx-open",
        "tx-settled",
        "../../etc",
        "<script>",
        "'; DROP TABLE wallet_bet; --",
        "\u202e",
        "\ufeff",
    ]
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.text(max_size=40),
    HOSTILE_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _encode(value: Any) -> str:
    """JSON text: a Decimal as an exact number, a lone surrogate as its \\u escape."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return json.dumps(value, default=str)


def render(payload: dict[str, Any]) -> str:
    return _encode(payload)


def _string_paths(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _string_paths(item, (*path, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in _string_paths(item, (*path, index))]
    return []


def _get(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(value: Any, path: tuple, new: Any) -> None:
    _get(value, path[:-1])[path[-1]] = new


KINDS = [
    "replace",
    "replace",
    "leaf",
    "poison",
    "poison",
    "drop",
    "duplicate",
    "extra",
    "nest",
    "bytes",
    "cut",
    "valid",
]
POISON = ["\x00", "a\x00", "\ud800", "\udc00x"]


# Hypothesis leans towards small numbers and first options (good for shrinking, bad for
# coverage): where to mutate is chosen by a random.Random seeded with a hash of a drawn number.
RANDOMS = st.integers(0, 2**64 - 1).map(lambda n: random.Random(hashlib.sha256(n.to_bytes(8, "big")).digest()))


def uniform(items: list) -> st.SearchStrategy:
    """One of `items`, each as likely (st.sampled_from leans towards the first)."""
    return RANDOMS.map(lambda rnd: rnd.choice(items))


@st.composite
def mutated(draw, seed: dict[str, Any]) -> bytes:
    """One mutation of a valid body, as bytes. Where to mutate is chosen uniformly (RANDOMS);
    what to put there is drawn from the strategies above."""
    rnd = draw(RANDOMS)
    payload = copy.deepcopy(seed)
    keys = list(payload)
    kind = rnd.choice(KINDS)
    if kind == "replace":
        payload[rnd.choice(keys)] = draw(st.one_of(JSON_VALUES, HOSTILE_TEXT))
    elif kind == "poison":  # text no database can store, in any string, nested ones too
        paths = _string_paths(payload)
        nested = [path for path in paths if len(path) > 1]
        if nested and rnd.random() < 0.5:
            paths = nested  # half the time inside a nested object, where fewer checks look
        if paths:
            path = rnd.choice(paths)
            _set(payload, path, _get(payload, path) + rnd.choice(POISON))
    elif kind == "leaf":  # any value inside a nested object (Betsy's metadata legs)
        nested_keys = [
            k for k in keys if isinstance(payload[k], list) and payload[k] and isinstance(payload[k][0], dict)
        ]
        if nested_keys:
            leg = payload[rnd.choice(nested_keys)][0]
            leg[rnd.choice(sorted(leg))] = draw(st.one_of(JSON_VALUES, HOSTILE_TEXT))
    elif kind == "drop":
        payload.pop(rnd.choice(keys))
    elif kind == "extra":
        payload[draw(st.text(max_size=12))] = draw(JSON_VALUES)
    text = render(payload)
    if kind == "duplicate":
        value = draw(st.one_of(JSON_VALUES, HOSTILE_TEXT))
        text = text[:-1] + f",{json.dumps(rnd.choice(keys))}:{_encode(value)}" + "}"
    elif kind == "nest":
        depth = rnd.choice([2, 50, 999, 1500, 5000])
        text = "[" * depth + text + "]" * rnd.choice([0, depth])
    raw = text.encode("utf-8", "surrogatepass")
    if kind == "bytes":
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randint(0, max(len(raw) - 1, 0))
            byte = bytes([rnd.randint(0, 255)])
            action = rnd.choice(["flip", "insert", "delete"])
            if action == "flip":
                raw = raw[:at] + byte + raw[at + 1 :]
            elif action == "insert":
                raw = raw[:at] + byte + raw[at:]
            else:
                raw = raw[:at] + raw[at + 1 :]
    elif kind == "cut":
        raw = raw[: rnd.randint(0, len(raw))]
    return raw


def fresh_ids(body: bytes, seen: dict[str, int], ids: tuple[bytes, ...]) -> bytes:
    """Three examples in four get a new transaction id, so a mutation is applied rather than
    answered from the first copy's stored answer; the others exercise replays and conflicts."""
    number = seen["refused"] + seen["applied"]
    if number % 4 == 3:
        return body
    for old in ids:
        body = body.replace(old, old[:-1] + b"-%d" % number + b'"')
    return body


# --- IGPX -----------------------------------------------------------------------------------------------


def igpx_seeds() -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "transaction",
            {"transaction_id": "b-1", "action": "bet", "user_id": "alice", "currency": "EUR", "amount": "5.00"},
        ),
        (
            "transaction",
            {"transaction_id": "r-1", "action": "result", "user_id": "alice", "currency": "EUR", "amount": "7.50"},
        ),
        (
            "transaction-rollback",
            {
                "transaction_id": "rb-1",
                "rollback_transaction_id": "b-1",
                "action": "rollback",
                "user_id": "alice",
                "currency": "EUR",
                "amount": "5.00",
            },
        ),
    ]


IGPX_CASES = uniform(igpx_seeds()).flatmap(lambda case: st.tuples(st.just(case[0]), mutated(case[1])))


def check_igpx_answer(status: int, content_type: str, body: bytes) -> bool:
    """True when the answer is a refusal. Fails the test when it is not in IGPX's format."""
    assert status == 200, (status, body)
    assert content_type == "application/json"
    data = json.loads(body)
    assert isinstance(data, dict) and "error" in data, body
    assert data["error"] != igpx_protocol.INTERNAL_ERROR, body
    if data["error"] is None:
        assert isinstance(data.get("transaction_id"), str) and data["transaction_id"], body
        return False
    assert data["error"] in igpx_protocol.ERROR_CODES, body
    return True


def test_igpx_callbacks_survive_signed_mutations(settings, db):
    settings.IGPX_SECURITY_HASH = IGPX_SECRET
    alice = make_player("alice", currencies=("EUR", "USD"))
    fund(alice, "1000000.00")
    client = Client()
    seen = {"refused": 0, "applied": 0}

    @FUZZ
    @given(case=IGPX_CASES)
    def run(case: tuple[str, bytes]) -> None:
        path, body = case
        body = fresh_ids(body, seen, (b'"transaction_id":"b-1"', b'"transaction_id":"r-1"'))
        before = money_state()
        response = client.post(
            f"/api/igpx/{path}",
            body,
            content_type="application/json",
            HTTP_X_SECURITY_HASH=igpx_protocol.sign(body, IGPX_SECRET),
        )
        refused = check_igpx_answer(response.status_code, response["Content-Type"], response.content)
        seen["refused" if refused else "applied"] += 1
        if refused:
            assert money_state() == before, body

    run()
    assert seen["refused"] > EXAMPLES // 4 and seen["applied"] > 0, seen  # the mutations reached both sides


# --- Betsy ----------------------------------------------------------------------------------------------


def betsy_seeds(token: str) -> list[tuple[str, str, dict[str, Any]]]:
    def bet(type_: int, transaction_id: str, amount: str, **extra: Any) -> dict[str, Any]:
        return {
            "requestId": "req-1",
            "transactionId": transaction_id,
            "token": token,
            "userId": "alice",
            "currency": "USD",
            "amount": Decimal(amount),
            "type": type_,
            "coefficient": Decimal("2.0"),
            "subPartnerId": None,
            "bonusAmount": None,
            "ticketType": "single",
            "metadata": [
                {"eventId": 1, "event": "A v B", "coefficient": Decimal("2.0"), "eventDate": "2026-05-01 12:00:00"}
            ],
            **extra,
        }

    return [
        ("POST", "/user/profile", {"token": token, "requestId": "req-1"}),
        ("POST", "/user/balance", {"userId": "alice", "currency": "USD", "token": token, "requestId": "req-1"}),
        ("POST", "/payment/bet", bet(1, "tx-new", "5")),
        ("PUT", "/payment/bet", bet(2, "tx-open", "12.5", resultType="won")),
        ("PUT", "/payment/bet", bet(1, "tx-settled", "0")),
        ("PUT", "/payment/bet", bet(3, "tx-open", "5", errorCode=10)),
        ("POST", "/payment/check", {"userId": "alice", "transactionId": "tx-open"}),
    ]


def check_betsy_answer(status: int, headers: Any, body: bytes) -> bool:
    """True when the answer is a refusal. Fails the test when it is not in Betsy's format."""
    assert status in (200, 400, 405), (status, body)  # 405: a method the path does not take
    assert headers["Content-Type"] == "application/json"
    assert betsy_protocol.HEADER_NAME in headers  # our answers are signed
    data = json.loads(body)
    assert isinstance(data, dict), body
    if status == 200:
        assert "code" not in data, body
        if "transactionId" in data and "type" not in data:  # a /payment/bet answer: our id, never theirs
            assert not data["transactionId"].startswith("tx-"), body
        return False
    assert set(data) == {"code", "message"} and isinstance(data["message"], str), body
    assert data["code"] in {int(code) for code in betsy_protocol.Code}, body
    assert data["code"] != betsy_protocol.Code.SYSTEM_ERROR, body
    return True


def test_betsy_callbacks_survive_signed_mutations(db):
    from tests.wallet.betsy.conftest import Actor

    alice = Actor("alice", amount="1000000")
    secret = django_settings.BETSY_PARTNER_SECRET
    client = Client()

    def send(method: str, path: str, body: bytes):
        return client.generic(
            method,
            f"/api/betsy{path}",
            data=body,
            content_type="application/json",
            headers={betsy_protocol.HEADER_NAME: betsy_protocol.sign(body, secret)},
        )

    seeds = betsy_seeds(alice.token)
    # An open bet and a settled one, so settles, unsettles and rollbacks have something to act on.
    for method, path, payload in [
        ("POST", "/payment/bet", {**seeds[2][2], "transactionId": "tx-open"}),
        ("POST", "/payment/bet", {**seeds[2][2], "transactionId": "tx-settled"}),
        ("PUT", "/payment/bet", {**seeds[3][2], "transactionId": "tx-settled"}),
    ]:
        assert send(method, path, betsy_protocol.dumps(payload)).status_code == 200
    seen = {"refused": 0, "applied": 0}
    cases = uniform(seeds).flatmap(lambda case: st.tuples(st.just(case[0]), st.just(case[1]), mutated(case[2])))

    @FUZZ
    @given(case=cases, method=uniform([None, None, None, None, "POST", "PUT"]))
    def run(case: tuple[str, str, bytes], method: str | None) -> None:
        seed_method, path, body = case
        body = fresh_ids(body, seen, (b'"transactionId":"tx-new"',))
        before = money_state()
        response = send(method or seed_method, path, body)
        refused = check_betsy_answer(response.status_code, response.headers, response.content)
        seen["refused" if refused else "applied"] += 1
        if refused:
            assert money_state() == before, body

    run()
    assert seen["refused"] > EXAMPLES // 4 and seen["applied"] > 0, seen
