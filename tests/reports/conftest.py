"""Report test helpers: a clock for scenarios, and both providers driven through their callbacks.

The ledger stamps rows with the database's clock, so a scenario step runs now and its new rows
are then dated to the step's moment (`Clock.at`): what the same callbacks would have written at
that time.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Max
from django.test import Client

from tests.wallet.betsy.conftest import Actor, django_transport
from tests.wallet.igpx.conftest import SECRET, Provider
from wallet.betsy.simulator import Betsy
from wallet.models import Bet, LedgerTransaction, Settlement
from wallet.services.backoffice import roles_ensure

ZONE_NAME = "Pacific/Auckland"  # UTC+13 in November (daylight time): midnight is 11:00 UTC
ZONE = ZoneInfo(ZONE_NAME)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def _top(model, field: str = "id") -> int:
    return model.objects.aggregate(m=Max(field))["m"] or 0


@contextmanager
def at(text: str):
    """Date every transaction, bet and settlement written inside the block to `text` (local)."""
    moment = local(text)
    marks = (_top(LedgerTransaction), _top(Bet), _top(Settlement))
    yield
    LedgerTransaction.objects.filter(id__gt=marks[0]).update(created_at=moment)
    Bet.objects.filter(id__gt=marks[1]).update(placed_at=moment)
    Settlement.objects.filter(id__gt=marks[2]).update(created_at=moment)


@pytest.fixture
def report_zone(settings):
    settings.REPORT_TIMEZONE = ZONE_NAME
    return ZONE


@pytest.fixture
def igpx(settings) -> Provider:
    settings.IGPX_SECURITY_HASH = SECRET
    return Provider(Client())


@pytest.fixture
def betsy() -> Betsy:
    return Betsy(django_transport(Client()), settings.BETSY_PARTNER_SECRET)


def staff(name: str, role: str, **extra):
    roles_ensure()
    user = get_user_model().objects.create_user(name, password="pw-" + name, is_staff=True, **extra)
    user.groups.add(Group.objects.get(name=role))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


__all__ = ["Actor", "at", "local", "staff"]
