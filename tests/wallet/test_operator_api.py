"""The operator API as the casino platform uses it: players, transfers, listings."""

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from tests.factories import api_client, balance
from wallet.models import AuditLog, IdempotencyConflict, LedgerTransaction, Player

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return api_client()


def post(api, path, body):
    return api.post(
        path, data=json.dumps(body) if not isinstance(body, (bytes, str)) else body, content_type="application/json"
    )


@pytest.fixture
def alice(api):
    response = post(api, "/api/operator/players/", {"external_id": "alice", "currencies": ["EUR", "BTC"]})
    assert response.status_code == 201, response.content
    return Player.objects.get(external_id="alice")


def test_requires_token():
    assert APIClient().get("/api/operator/players/alice/").status_code == 401


def test_create_and_read_player_with_balances(api, alice):
    post(api, "/api/operator/players/alice/deposits/", {"reference": "d1", "currency": "EUR", "amount": "20.00"})
    data = api.get("/api/operator/players/alice/").json()
    assert data["status"] == "active"
    assert data["wallets"] == [
        {"currency": "BTC", "balance": "0.00000000", "bonus_balance": "0.00000000", "debt": "0.00000000"},
        {"currency": "EUR", "balance": "20.00", "bonus_balance": "0.00", "debt": "0.00"},
    ]


def test_duplicate_player_is_a_conflict(api, alice):
    response = post(api, "/api/operator/players/", {"external_id": "alice", "currencies": ["EUR"]})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "player_exists"


def test_unknown_currency_on_create(api):
    response = post(api, "/api/operator/players/", {"external_id": "bob", "currencies": ["XXX"]})
    assert response.status_code == 400
    assert not Player.objects.filter(external_id="bob").exists()


def test_deposit_is_idempotent_by_reference_byte_for_byte(api, alice):
    first = post(
        api, "/api/operator/players/alice/deposits/", {"reference": "d1", "currency": "EUR", "amount": "20.00"}
    )
    again = post(api, "/api/operator/players/alice/deposits/", {"reference": "d1", "currency": "EUR", "amount": "20"})
    assert first.status_code == again.status_code == 201
    assert first.content == again.content
    assert again["Idempotent-Replayed"] == "true"
    assert balance(alice) == Decimal("20.00")
    assert LedgerTransaction.objects.filter(kind="deposit").count() == 1


def test_reference_reused_for_different_transfer_is_a_conflict(api, alice):
    post(api, "/api/operator/players/alice/deposits/", {"reference": "d1", "currency": "EUR", "amount": "20.00"})
    response = post(
        api, "/api/operator/players/alice/deposits/", {"reference": "d1", "currency": "EUR", "amount": "25"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    response = post(
        api, "/api/operator/players/alice/withdrawals/", {"reference": "d1", "currency": "EUR", "amount": "1"}
    )
    assert response.status_code == 409
    assert balance(alice) == Decimal("20.00")
    assert IdempotencyConflict.objects.count() == 2


def test_withdrawal_declined_then_replayed(api, alice):
    post(api, "/api/operator/players/alice/deposits/", {"reference": "d1", "currency": "EUR", "amount": "5"})
    first = post(api, "/api/operator/players/alice/withdrawals/", {"reference": "w1", "currency": "EUR", "amount": "6"})
    assert first.status_code == 422 and first.json()["error"]["code"] == "insufficient_funds"
    post(api, "/api/operator/players/alice/deposits/", {"reference": "d2", "currency": "EUR", "amount": "5"})
    # The stored decline is the answer to w1 forever: a retry must not suddenly succeed.
    again = post(api, "/api/operator/players/alice/withdrawals/", {"reference": "w1", "currency": "EUR", "amount": "6"})
    assert again.content == first.content and again.status_code == 422
    assert balance(alice) == Decimal("10")


@pytest.mark.parametrize(
    "amount",
    [
        "-1",
        "0",
        "NaN",
        "Infinity",
        "1e3",
        "5.001",
        "1.00000000000000000000",
        "99999999999999999999",
        True,
        None,
        "",
        "abc",
    ],
)
def test_bad_amounts_leave_nothing_behind(api, alice, amount):
    response = post(
        api, "/api/operator/players/alice/deposits/", {"reference": "bad", "currency": "EUR", "amount": amount}
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]["amount"]
    assert LedgerTransaction.objects.count() == 0
    assert not api.get("/api/operator/players/alice/transactions/").json()["results"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"reference": "x", "currency": "EUR", "amount": NaN}',
        b'{"reference": "x", "currency": "EUR", "amount": 1e3}',
        b'{"reference": "x", "currency": "EUR", "amount": 2.5',
        b"not json",
    ],
)
def test_bad_json_numbers(api, alice, raw):
    response = post(api, "/api/operator/players/alice/deposits/", raw)
    assert response.status_code == 400
    assert LedgerTransaction.objects.count() == 0


def test_json_number_amount_is_exact(api, alice):
    response = post(
        api, "/api/operator/players/alice/deposits/", b'{"reference": "n", "currency": "EUR", "amount": 0.10}'
    )
    assert response.status_code == 201
    assert response.json()["balance"] == "0.10"


def test_unknown_player_and_currency(api, alice):
    response = post(api, "/api/operator/players/nobody/deposits/", {"reference": "u", "currency": "EUR", "amount": "1"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "player_not_found"
    response = post(api, "/api/operator/players/alice/deposits/", {"reference": "c", "currency": "USD", "amount": "1"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "currency_mismatch"
    response = post(api, "/api/operator/players/alice/deposits/", {"reference": "c2", "currency": "XXX", "amount": "1"})
    assert response.status_code == 400
    assert LedgerTransaction.objects.count() == 0


def test_block_and_unblock_are_audited_and_enforced(api, alice):
    assert post(api, "/api/operator/players/alice/block/", {"reason": "chargeback"}).json()["status"] == "blocked"
    response = post(api, "/api/operator/players/alice/deposits/", {"reference": "d", "currency": "EUR", "amount": "1"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "player_blocked"
    assert post(api, "/api/operator/players/alice/unblock/", {"reason": "resolved"}).json()["status"] == "active"
    assert post(api, "/api/operator/players/alice/block/", {}).status_code == 400  # reason is mandatory
    actions = list(AuditLog.objects.filter(action="player.status").values_list("reason", flat=True))
    assert sorted(actions) == ["chargeback", "resolved"]


def test_transactions_listing_shows_entries(api, alice):
    post(api, "/api/operator/players/alice/deposits/", {"reference": "d1", "currency": "EUR", "amount": "20"})
    post(api, "/api/operator/players/alice/withdrawals/", {"reference": "w1", "currency": "EUR", "amount": "7.5"})
    rows = api.get("/api/operator/players/alice/transactions/").json()["results"]
    assert [r["kind"] for r in rows] == ["withdrawal", "deposit"]
    assert rows[0]["entries"][0]["balance_after"] in ("12.50000000", "12.5")


def test_bets_listing(api, alice):
    assert api.get("/api/operator/players/alice/bets/").json()["results"] == []


def test_unknown_session_provider(api, alice):
    response = post(api, "/api/operator/players/alice/sessions/nope/", {})
    assert response.status_code == 400
    assert "unknown sportsbook provider" in response.json()["error"]["message"]


def test_schema_and_ops_endpoints(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/operator/players/" in schema.content
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and b"touchline_players" in metrics.content
