"""The operator API for protection: read, change under the cooling rule, idempotent by reference."""

from __future__ import annotations

import json

import pytest

from tests.factories import api_client, make_player
from wallet.api.protection import PlayerProtection
from wallet.models import AuditLog, ProtectionChange

pytestmark = pytest.mark.django_db
URL = "/api/operator/players/alice/protection/"


@pytest.fixture
def api():
    return api_client(scopes=("limits",))


def post(api, body):
    return api.post(URL, data=json.dumps(body), content_type="application/json")


def test_the_view_declares_the_limits_scope():
    assert PlayerProtection.required_scope == "limits"


def test_set_read_and_replay(api):
    make_player("alice")
    body = {
        "reference": "pp-1",
        "reason": "player set limits in the cashier",
        "currency": "EUR",
        "changes": {"loss_day": "50.00", "bets_day": 10, "date_of_birth": "1990-05-01", "verification": "verified"},
    }
    first = post(api, body)
    assert first.status_code == 200, first.content
    data = first.json()
    assert {c["field"]: c["status"] for c in data["changes"]} == {
        "loss_day": "applied",
        "bets_day": "applied",
        "date_of_birth": "applied",
        "verification": "applied",
    }
    assert data["wallets"][0]["limits"]["loss_day"] == {"limit": "50.00", "used": "0.00"}
    assert data["verification"]["status"] == "verified"
    assert data["verification"]["by"].startswith("API key casino platform")

    again = post(api, body)
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert ProtectionChange.objects.count() == 4

    conflict = post(api, {**body, "changes": {"loss_day": "60.00"}})
    assert conflict.status_code == 409

    raised = post(api, {**body, "reference": "pp-2", "changes": {"loss_day": "80.00"}})
    assert raised.json()["changes"][0]["status"] == "pending"
    state = api.get(URL).json()
    assert state["wallets"][0]["limits"]["loss_day"]["limit"] == "50.00"
    assert [(p["field"], p["to"]) for p in state["pending"]] == [("loss_day", "80.00")]
    audit = AuditLog.objects.filter(action="protection.request").get()
    assert audit.data["api_key"]["name"] == "casino platform" and audit.reason == "player set limits in the cashier"


def test_a_key_without_the_limits_scope_is_refused():
    make_player("alice")
    assert api_client(scopes=("read",)).get(URL).status_code == 403


def test_refusals_in_the_api_format(api):
    make_player("alice")
    post(api, {"reference": "x-1", "reason": "player asked", "changes": {"self_exclusion": "indefinite"}})
    lift = post(api, {"reference": "x-2", "reason": "player asked", "changes": {"self_exclusion": None}})
    assert lift.status_code == 403 and lift.json()["error"]["code"] == "permission_denied"
    bad = post(api, {"reference": "x-3", "reason": "player asked", "changes": {"loss_day": "5"}})
    assert bad.status_code == 400 and "currency is required" in bad.json()["error"]["message"]
    assert api.get("/api/operator/players/nobody/protection/").status_code == 404
