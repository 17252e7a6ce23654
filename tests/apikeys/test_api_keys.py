"""Operator API keys: the casino platform's own principal. Scopes, per-currency transfer limits,
rate limits, revocation, audit, and Admin-only management in the admin."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import apikeys.auth
from apikeys.auth import HasScope
from apikeys.models import ApiKey
from apikeys.services import apikey_create, apikey_revoke
from tests.factories import balance, make_api_key, make_player
from wallet.errors import PermissionDenied
from wallet.models import AuditLog, IdempotencyRecord, LedgerTransaction
from wallet.services.backoffice import roles_ensure

pytestmark = pytest.mark.django_db

DEPOSIT = "/api/operator/players/alice/deposits/"


def client_for(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def deposit(client: APIClient, reference: str, amount: str, currency: str = "EUR"):
    body = {"reference": reference, "currency": currency, "amount": amount}
    return client.post(DEPOSIT, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def alice():
    return make_player("alice", currencies=("EUR", "USD"))


@pytest.fixture
def staff(db):
    roles_ensure()
    users = {}
    for name, role in [("ada", "Admin"), ("sam", "Support"), ("fiona", "Finance")]:
        user = get_user_model().objects.create_user(name, password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[name] = get_user_model().objects.get(pk=user.pk)  # fresh permission cache
    return users


# --- Who may call -------------------------------------------------------------------------------


def test_a_staff_users_token_no_longer_moves_money(alice):
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=superuser).key}")
    response = deposit(client, "d1", "999999999999.99")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    session = APIClient()
    session.force_login(superuser)
    assert deposit(session, "d2", "10").status_code == 401
    assert balance(alice) == 0


def test_each_operation_needs_its_scope(alice):
    reader = client_for(make_api_key("reader", scopes=("read",))[1])
    assert reader.get("/api/operator/players/alice/").status_code == 200
    response = deposit(reader, "d1", "10")
    assert response.status_code == 403
    assert response.json()["error"] == {"code": "scope_missing", "message": response.json()["error"]["message"]}
    assert "'payments'" in response.json()["error"]["message"]
    assert (
        reader.post("/api/operator/players/alice/block/", {"reason": "fraud check"}, format="json").status_code == 403
    )
    assert balance(alice) == 0


def test_a_view_without_a_declared_scope_is_closed_to_every_key():
    key, _ = make_api_key(scopes=("read", "players", "payments", "sessions", "limits", "reports", "feeds"))

    class Undeclared:
        pass

    request = type("R", (), {"auth": key, "method": "GET"})()
    assert HasScope().has_permission(request, Undeclared()) is False


def test_unknown_revoked_and_expired_keys_are_refused(alice, staff):
    key, secret = make_api_key(scopes=("read",))
    client = client_for(secret)
    assert client.get("/api/operator/players/alice/").status_code == 200
    prefix = secret.split(".")[0]
    assert client_for(f"{prefix}.wrong-secret").get("/api/operator/players/alice/").status_code == 401
    assert client_for("garbage").get("/api/operator/players/alice/").status_code == 401
    apikey_revoke(actor=staff["ada"], key=key, reason="leaked in a log")
    response = client.get("/api/operator/players/alice/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"
    row = AuditLog.objects.get(action="apikey.revoke")
    assert row.object_id == key.prefix and row.actor == staff["ada"] and row.reason == "leaked in a log"

    expiring, secret2 = make_api_key("expiring", scopes=("read",))
    ApiKey.objects.filter(pk=expiring.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))
    assert client_for(secret2).get("/api/operator/players/alice/").status_code == 401


def test_only_a_hash_of_the_key_is_stored():
    key, secret = make_api_key()
    assert secret.startswith(key.prefix + ".")
    assert secret.split(".", 1)[1] not in key.hashed_key
    assert key.hashed_key.startswith("sha512$$")


# --- Money ---------------------------------------------------------------------------------------


def test_a_deposit_is_audited_with_the_key_and_reference_in_its_transaction(alice):
    key, secret = make_api_key()
    response = deposit(client_for(secret), "ref-1", "25.00")
    assert response.status_code == 201
    row = AuditLog.objects.get(action="api.deposit")
    tx = LedgerTransaction.objects.get(kind="deposit")
    assert row.object_id == str(tx.pk) and row.actor is None
    assert row.data["api_key"] == {"prefix": key.prefix, "name": key.name}
    assert row.data["reference"] == "ref-1" and row.data["amount"] == "25.00"
    # A decline moves nothing and writes no audit row.
    declined = client_for(secret).post(
        "/api/operator/players/alice/withdrawals/",
        data=json.dumps({"reference": "w-1", "currency": "EUR", "amount": "30"}),
        content_type="application/json",
    )
    assert declined.status_code == 422
    assert not AuditLog.objects.filter(action="api.withdrawal").exists()


def test_no_audit_row_no_money(alice, monkeypatch):
    """The audit row is written in the money's own transaction: if it cannot be, nothing moves."""
    import wallet.services.transfers as transfers

    def broken(**kwargs):
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(transfers, "audit_record", broken)
    response = deposit(client_for(make_api_key()[1]), "ref-x", "10")
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"
    assert balance(alice) == 0
    assert not LedgerTransaction.objects.exists()
    assert not IdempotencyRecord.objects.filter(external_id="ref-x").exists()


def test_transfer_limit_per_currency(alice):
    key, secret = make_api_key(limits={"EUR": "100"})
    client = client_for(secret)
    assert deposit(client, "ok", "100.00").status_code == 201
    over = deposit(client, "big", "100.01")
    assert over.status_code == 403 and over.json()["error"]["code"] == "transfer_limit"
    assert "100.00 EUR" in over.json()["error"]["message"]
    no_limit = deposit(client, "usd", "1", currency="USD")
    assert no_limit.status_code == 403 and "no transfers in USD" in no_limit.json()["error"]["message"]
    assert balance(alice) == Decimal("100")
    # Not stored as the reference's answer: once an Admin raises the limit, the retry goes through.
    assert not IdempotencyRecord.objects.filter(external_id="big").exists()
    key.transfer_limits.filter(currency="EUR").update(max_amount=Decimal("1000"))
    assert deposit(client, "big", "100.01").status_code == 201
    # Lowering the limit later does not turn an applied transfer's replay into a refusal.
    key.transfer_limits.filter(currency="EUR").update(max_amount=Decimal("1"))
    again = deposit(client, "big", "100.01")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert balance(alice) == Decimal("200.01")


def test_player_changes_are_audited_with_the_key(alice):
    key, secret = make_api_key()
    client = client_for(secret)
    client.post("/api/operator/players/", {"external_id": "bob", "currencies": ["EUR"]}, format="json")
    client.post("/api/operator/players/bob/block/", {"reason": "chargeback"}, format="json")
    for action in ("player.create", "player.status"):
        assert AuditLog.objects.get(action=action, object_id__isnull=False, data__api_key__prefix=key.prefix)


# --- Rate limit and last use -----------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, fixed mid-window (its windows are aligned to the epoch)."""
    now = [60 * 16_666_667 + 50.0]  # 50 s into a minute
    monkeypatch.setattr(apikeys.auth, "_now", lambda: now[0])
    return now


def test_over_the_rate_limit_answers_429_in_the_api_error_format(alice, clock):
    cache.clear()
    client = client_for(make_api_key(scopes=("read",), rate_limit="3/min")[1])
    statuses = [client.get("/api/operator/players/alice/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/operator/players/alice/")
    assert response.json()["error"]["code"] == "throttled"
    assert response["Retry-After"] == "10"  # the minute's window ends 10 s later
    clock[0] += 10
    assert client.get("/api/operator/players/alice/").status_code == 200  # the next window
    # Another key has its own budget.
    assert client_for(make_api_key("other", scopes=("read",))[1]).get("/api/operator/players/alice/").status_code == 200


@pytest.mark.redis
def test_the_rate_is_counted_in_redis_for_every_process(settings, alice, clock):
    """With REDIS_URL the count lives in Redis: what one process spent, another cannot spend."""
    import redis

    url = os.environ.get("TOUCHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis is not reachable at {url}")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    key, secret = make_api_key(scopes=("read",), rate_limit="2/min")
    client = client_for(secret)
    assert [client.get("/api/operator/players/alice/").status_code for _ in range(2)] == [200, 200]
    (counter,) = redis.Redis.from_url(url).keys(f"*throttle:apikey:{key.prefix}:*")
    assert redis.Redis.from_url(url).get(counter) == b"2"  # the count another process reads
    assert client.get("/api/operator/players/alice/").status_code == 429
    redis.Redis.from_url(url).delete(counter)


def test_last_use_is_written_at_most_once_a_minute(alice):
    key, secret = make_api_key(scopes=("read",))
    client = client_for(secret)
    client.get("/api/operator/players/alice/")
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    client.get("/api/operator/players/alice/")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first  # no write on the second call
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/operator/players/alice/")
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


# --- Management: Admin staff only, in the admin -------------------------------------------------------


def test_admin_creates_a_key_and_sees_its_secret_once(client, staff, alice):
    client.force_login(staff["ada"])
    response = client.post(
        "/admin/apikeys/apikey/add/",
        {
            "name": "casino platform",
            "scopes": ["read", "payments"],
            "rate_limit": "600/min",
            "transfer_limits-TOTAL_FORMS": "1",
            "transfer_limits-INITIAL_FORMS": "0",
            "transfer_limits-0-currency": "EUR",
            "transfer_limits-0-max_amount": "500",
        },
    )
    assert response.status_code == 200, response.content[:2000]
    secret = re.search(rb'id="api-key-secret"[^>]*>([^<]+)</pre>', response.content).group(1).decode()
    key = ApiKey.objects.get(name="casino platform")
    assert key.scopes == ["payments", "read"] and key.created_by == staff["ada"]
    assert key.transfer_limit("EUR") == Decimal("500")
    assert deposit(client_for(secret), "d1", "500").status_code == 201
    # The change page never shows it again.
    change = client.get(f"/admin/apikeys/apikey/{key.pk}/change/")
    assert change.status_code == 200 and secret.encode() not in change.content
    assert AuditLog.objects.get(action="apikey.create").actor == staff["ada"]
    limits = AuditLog.objects.get(action="apikey.change")
    assert limits.data["changed"] == ["transfer limits"] and limits.data["limits"] == {"EUR": "500.00000000"}


def test_editing_a_key_is_audited(client, staff):
    key, _ = make_api_key(scopes=("read",), limits={})
    client.force_login(staff["ada"])
    response = client.post(
        f"/admin/apikeys/apikey/{key.pk}/change/",
        {
            "name": key.name,
            "scopes": ["read", "payments"],
            "rate_limit": "60/min",
            "transfer_limits-TOTAL_FORMS": "1",
            "transfer_limits-INITIAL_FORMS": "0",
            "transfer_limits-0-currency": "USD",
            "transfer_limits-0-max_amount": "250.50",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    row = AuditLog.objects.get(action="apikey.change")
    assert row.actor == staff["ada"] and row.object_id == key.prefix
    assert row.data["changed"] == ["rate_limit", "scopes", "transfer limits"]
    assert row.data["scopes"] == ["read", "payments"] and row.data["limits"] == {"USD": "250.50000000"}
    bad = client.post(
        f"/admin/apikeys/apikey/{key.pk}/change/",
        {
            "name": key.name,
            "scopes": ["read"],
            "rate_limit": "lots",
            "transfer_limits-TOTAL_FORMS": "1",
            "transfer_limits-INITIAL_FORMS": "0",
            "transfer_limits-0-currency": "JPY",
            "transfer_limits-0-max_amount": "10.5",
        },
    )
    assert bad.status_code == 200  # the form again, with both errors
    assert b"is not a rate like 600/min" in bad.content and b"JPY allows" in bad.content


def test_only_admin_staff_manage_keys(client, staff):
    for name in ("sam", "fiona"):
        client.force_login(staff[name])
        assert client.get("/admin/apikeys/apikey/add/").status_code == 403
        with pytest.raises(PermissionDenied):
            apikey_create(actor=staff[name], name=f"by {name}", scopes=["payments"])
    assert not ApiKey.objects.exists()


def test_revoke_action_in_the_admin(client, staff):
    key, secret = make_api_key(scopes=("read",))
    client.force_login(staff["ada"])
    client.post("/admin/apikeys/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked and key.revoked_by == staff["ada"]


def test_a_cache_outage_lets_calls_through_and_logs_once(settings, alice, caplog):
    """Redis down (nothing listens on port 1): the limit is not counted, the API still answers, and
    the outage is one log line, not one per request."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    client = client_for(make_api_key(scopes=("read",), rate_limit="2/min")[1])
    with caplog.at_level("WARNING", logger="touchline.apikeys"):
        statuses = [client.get("/api/operator/players/alice/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 200]
    assert len([r for r in caplog.records if "rate limit not counted" in r.getMessage()]) == 1
