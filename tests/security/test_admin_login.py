"""The admin login locks out repeated failures, per user name and per address (django-axes), and
writes the lockout to the audit log. The admin pages carry a Content-Security-Policy."""

from __future__ import annotations

import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client

from wallet.models import AuditLog

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


@pytest.fixture
def ada():
    return get_user_model().objects.create_superuser("ada", "ada@example.com", "right-password")


def login(username: str, password: str, address: str = "198.51.100.1"):
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password})


def test_the_right_password_after_repeated_failures_is_refused(ada):
    assert [login("ada", "wrong").status_code for _ in range(3)] == [200, 200, 429]  # the 3rd locks
    locked = login("ada", "right-password")
    assert locked.status_code == 429
    assert "_auth_user_id" not in locked.client.session
    row = AuditLog.objects.get(action="admin.login_lockout")
    assert row.object_id == "ada" and row.data == {"ip_address": "198.51.100.1"}


def test_one_user_name_is_locked_from_every_address(ada):
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        login("ada", "wrong", address)
    assert login("ada", "right-password", "203.0.113.9").status_code == 429


def test_one_address_is_locked_for_every_user_name(ada):
    for name in ("bob", "carol", "dave"):
        login(name, "guess", "203.0.113.50")
    assert login("ada", "right-password", "203.0.113.50").status_code == 429
    assert AccessAttempt.objects.filter(ip_address="203.0.113.50").exists()


def test_a_success_before_the_limit_resets_the_count(ada):
    login("ada", "wrong")
    login("ada", "wrong")
    assert login("ada", "right-password").status_code == 302
    login("ada", "wrong")
    login("ada", "wrong")
    assert login("ada", "right-password").status_code == 302


def test_admin_pages_carry_a_content_security_policy(client, ada):
    client.force_login(ada)
    response = client.get("/admin/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe" not in policy.split("script-src")[1].split(";")[0]
    # The dashboard's inline script runs because it carries the page's nonce.
    dashboard = client.get("/admin/dashboard/")
    nonce = re.search(r"'nonce-([^']+)'", dashboard["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}">'.encode() in dashboard.content
