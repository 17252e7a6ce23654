"""ADMIN_TOTP_REQUIRED: staff who approve money log in with a TOTP code too (django-otp)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet.services.backoffice import roles_ensure

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(settings):
    settings.ADMIN_TOTP_REQUIRED = True
    roles_ensure()
    users = {}
    for name, role in [("fiona", "Finance"), ("sam", "Support")]:
        user = get_user_model().objects.create_user(name, password="pw-" + name, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        users[name] = user
    return users


def code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=0):06d}"


def test_an_approver_needs_a_totp_code(staff):
    device = TOTPDevice.objects.create(user=staff["fiona"], name="phone", confirmed=True)
    client = Client()
    without = client.post(LOGIN, {"username": "fiona", "password": "pw-fiona"})
    assert without.status_code == 200 and "_auth_user_id" not in client.session
    wrong = client.post(LOGIN, {"username": "fiona", "password": "pw-fiona", "otp_token": "000000"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    right = client.post(
        LOGIN,
        {"username": "fiona", "password": "pw-fiona", "otp_device": device.persistent_id, "otp_token": code(device)},
    )
    assert right.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_session_without_the_second_factor_does_not_open_the_admin_to_an_approver(client, staff):
    client.force_login(staff["fiona"])
    assert client.get("/admin/").status_code == 302  # to the login page


def test_staff_who_do_not_approve_money_log_in_with_a_password(staff):
    client = Client()
    assert client.post(LOGIN, {"username": "sam", "password": "pw-sam"}).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_off_by_default(client, settings):
    assert settings.ADMIN_TOTP_REQUIRED is False
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    assert client.get("/admin/").status_code == 200
