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

Bounded in time: TOUCHLINE_FUZZ_EXAMPLES per provider (default 400: about 20-40 s in all on a
busy 2-core machine). The examples are derived from a fixed seed, so CI is repeatable; set
TOUCHLINE_FUZZ_RANDOM=1 to explore new ones locally.
"""

from __future__ import annotations

import json
import os
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
    """JSON text that may hold a lone surrogate escape (json.dumps writes one as \\udXXX)."""
    return json.dumps(value, default=str)


def render(payload: dict[str, Any]) -> str:
    return "{" + ",".join(f"{json.dumps(k)}:{_encode(v)}" for k, v in payload.items()) + "}"


@st.composite
def mutated(draw, seed: dict[str, Any]) -> bytes:
    """One mutation (sometimes two) of a valid body, as bytes."""
    payload = dict(seed)
    keys = list(payload)
    kind = draw(
        st.sampled_from(
            [
                "replace",
                "replace",
                "replace",
                "leaf",
                "drop",
                "duplicate",
                "extra",
                "nest",
                "bytes",
                "bytes",
                "cut",
                "valid",
            ]
        )
    )
    if kind == "replace":
        key = draw(st.sampled_from(keys))
        payload[key] = draw(st.one_of(JSON_VALUES, HOSTILE_TEXT))
    elif kind == "leaf":  # a value inside a nested object (Betsy's metadata legs)
        nested = [
            key for key in keys if isinstance(payload[key], list) and payload[key] and isinstance(payload[key][0], dict)
        ]
        if nested:
            key = draw(st.sampled_from(nested))
            leg = dict(payload[key][0])
            leg[draw(st.sampled_from(sorted(leg)))] = draw(st.one_of(JSON_VALUES, HOSTILE_TEXT))
            payload[key] = [leg]
    elif kind == "drop":
        payload.pop(draw(st.sampled_from(keys)))
    elif kind == "extra":
        payload[draw(st.text(max_size=12))] = draw(JSON_VALUES)
    text = render(payload)
    if kind == "duplicate":
        key = draw(st.sampled_from(keys))
        text = text[:-1] + f",{json.dumps(key)}:{_encode(draw(st.one_of(JSON_VALUES, HOSTILE_TEXT)))}" + "}"
    elif kind == "nest":
        depth = draw(st.sampled_from([2, 50, 999, 1500, 5000]))
        text = "[" * depth + text + "]" * draw(st.sampled_from([0, depth]))
    raw = text.encode("utf-8", "surrogatepass")
    if kind == "bytes":
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, max(len(raw) - 1, 0)))
            action = draw(st.sampled_from(["flip", "insert", "delete"]))
            byte = bytes([draw(st.integers(0, 255))])
            if action == "flip":
                raw = raw[:at] + byte + raw[at + 1 :]
            elif action == "insert":
                raw = raw[:at] + byte + raw[at:]
            else:
                raw = raw[:at] + raw[at + 1 :]
    elif kind == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


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


IGPX_CASES = st.sampled_from(igpx_seeds()).flatmap(lambda case: st.tuples(st.just(case[0]), mutated(case[1])))


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
    cases = st.sampled_from(seeds).flatmap(lambda case: st.tuples(st.just(case[0]), st.just(case[1]), mutated(case[2])))

    @FUZZ
    @given(case=cases, method=st.sampled_from([None, None, None, None, "POST", "PUT"]))
    def run(case: tuple[str, str, bytes], method: str | None) -> None:
        seed_method, path, body = case
        before = money_state()
        response = send(method or seed_method, path, body)
        refused = check_betsy_answer(response.status_code, response.headers, response.content)
        seen["refused" if refused else "applied"] += 1
        if refused:
            assert money_state() == before, body

    run()
    assert seen["refused"] > EXAMPLES // 4 and seen["applied"] > 0, seen
