"""The back-office protection panel: Risk reads a player's limits and usage, sets and lifts with
a reason; a second Risk person approves an early lift; Support only reads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import fund, make_player
from tests.wallet.protection.conftest import protect
from wallet.models import ProtectionChange, WalletLimits
from wallet.services.backoffice import roles_ensure

pytestmark = pytest.mark.django_db


def login(name: str, role: str) -> tuple[Client, User]:
    roles_ensure()
    user = User.objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client, user


def test_risk_sets_a_limit_and_sees_usage_pending_and_history(provider):
    alice = make_player("alice")
    fund(alice, "100")
    protect(alice, loss_day="50.00")
    assert provider.bet("b-1", "12.50").error is None
    risk, _ = login("risk", "Risk")
    url = reverse("admin:wallet_protection_panel", args=[alice.pk])

    page = risk.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "50.00 EUR" in html and "12.50 EUR" in html  # in force, used today

    response = risk.post(
        url, {"do": "change", "field": "loss_day", "value": "80.00", "currency": "EUR", "reason": "player asked"}
    )
    assert response.status_code == 302
    assert WalletLimits.objects.get(player=alice).loss_day == 50  # an increase waits
    html = risk.get(url).content.decode()
    assert "pending" in html and "80.00" in html
    change = ProtectionChange.objects.get(status="pending")
    assert change.requested_by.username == "risk" and change.source == "admin"

    # The player's page links to the panel.
    assert risk.get(reverse("admin:wallet_player_change", args=[alice.pk])).content.decode().count(url) == 1


def test_support_reads_but_cannot_change():
    alice = make_player("alice")
    support, _ = login("support", "Support")
    url = reverse("admin:wallet_protection_panel", args=[alice.pk])
    assert support.get(url).status_code == 200
    support.post(url, {"do": "change", "field": "loss_day", "value": "1.00", "currency": "EUR", "reason": "x" * 10})
    assert not ProtectionChange.objects.exists()


def test_early_lift_needs_a_second_risk_person():
    alice = make_player("alice")
    protect(alice, self_exclusion=(timezone.now() + timedelta(days=90)).isoformat())
    first, _ = login("risk1", "Risk")
    second, _ = login("risk2", "Risk")
    url = reverse("admin:wallet_protection_panel", args=[alice.pk])
    first.post(url, {"do": "lift", "lift-reason": "exclusion entered by mistake"})
    change = ProtectionChange.objects.get(status="awaiting_approval")
    decide = reverse("admin:wallet_protection_decide", args=[change.pk])
    first.post(decide, {"approve": "1", "note": "my own request"})
    assert ProtectionChange.objects.get(pk=change.pk).status == "awaiting_approval"
    second.post(decide, {"approve": "1", "note": "checked the call recording"})
    change.refresh_from_db()
    assert change.status == "pending" and change.approved_by.username == "risk2"
