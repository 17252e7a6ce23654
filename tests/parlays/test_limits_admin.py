"""The exposure limits page: defaults in force, each limit beside its exposure and headroom, a
form that requires a typed reason and goes through the service, removal with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from parlays import conf
from parlays.models import ExposureLimit, PxEvent
from parlays.services import limits
from tests.factories import user_with
from wallet.models import AuditLog

pytestmark = pytest.mark.django_db

LIST = "admin:parlays_exposurelimit_changelist"
ADD = "admin:parlays_exposurelimit_add"


@pytest.fixture
def rita(client):
    user = user_with("Risk")
    client.force_login(user)
    return user


def test_the_page_shows_the_environment_defaults_plainly(client, rita):
    page = client.get(reverse(LIST)).content.decode()
    assert "Defaults in force (USD book)" in page
    for variable, amount in [
        ("PROPHETX_MAX_EXPOSURE_TOTAL", "50,000.00 USD"),
        ("PROPHETX_MAX_EXPOSURE_EVENT", "5,000.00 USD"),
        ("PROPHETX_MAX_EXPOSURE_OUTCOME", "2,500.00 USD"),
    ]:
        assert variable in page and amount in page


def test_the_form_requires_a_reason_and_audits(client, rita):
    data = {"scope": "event", "key": "sr:match:43000001", "amount": "1200.50", "reason": ""}
    response = client.post(reverse(ADD), data)
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not ExposureLimit.objects.exists() and not AuditLog.objects.filter(action="exposure_limit.set").exists()

    response = client.post(reverse(ADD), {**data, "reason": "team news pending"})
    assert response.status_code == 302
    row = ExposureLimit.objects.get()
    assert (row.scope, row.key, row.amount, row.currency, row.updated_by) == (
        "event",
        "sr:match:43000001",
        Decimal("1200.50"),
        "USD",
        rita,
    )
    audit = AuditLog.objects.get(action="exposure_limit.set")
    assert (audit.actor, audit.reason) == (rita, "team news pending")
    assert "1,200.50 USD" in client.get(reverse(LIST)).content.decode()


@pytest.mark.parametrize(
    ("key", "amount", "error"),
    [
        ("sr:match:1", "12.345", "more decimal places than USD allows"),
        ("sr:match:1", "-5", "must not be negative"),
        ("match one", "10", "an event key is a UOF urn"),
    ],
)
def test_the_form_shows_what_is_wrong(client, rita, key, amount, error):
    data = {"scope": "event", "key": key, "amount": amount, "reason": "trying a limit"}
    response = client.post(reverse(ADD), data)
    assert response.status_code == 200 and error in response.content.decode()
    assert not ExposureLimit.objects.exists()


def test_editing_keeps_scope_and_key_and_asks_for_a_new_reason(client, rita):
    row = limits.set_exposure_limit(actor=rita, scope="event", key="sr:match:7", amount="900", reason="first reason")
    PxEvent.objects.create(sport_event_id=7, name="Lions vs. Tigers", event_urn="sr:match:7")
    url = reverse("admin:parlays_exposurelimit_change", args=[row.pk])
    page = client.get(url).content.decode()
    assert "Lions vs. Tigers" in page and "first reason" in page
    assert 'name="reason"' in page and "first reason</textarea>" not in page  # a new reason is typed
    response = client.post(url, {"scope": "outcome", "key": "sr:match:8", "amount": "450", "reason": "halved it"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.scope, row.key, row.amount, row.reason) == ("event", "sr:match:7", Decimal("450"), "halved it")
    listing = client.get(reverse(LIST)).content.decode()
    assert "Lions vs. Tigers" in listing and "450.00 USD" in listing


def test_exposure_and_headroom_beside_each_limit(client, rita, desk):
    parlay_id, _ = desk.ask([desk.line(0, 219, 4), desk.line(1, 225, 12)])
    desk.confirm(parlay_id, desk.offers()[0]["odds"], "150")
    event = desk.games[0].event_urn
    limits.set_exposure_limit(actor=rita, scope="event", key=event, amount="400", reason="watch this game")
    listing = client.get(reverse(LIST)).content.decode()
    assert "150.00 USD" in listing and "250.00 USD" in listing  # exposure, headroom
    assert desk.games[0].name in listing


def test_removal_asks_for_a_reason_and_falls_back(client, rita):
    row = limits.set_exposure_limit(actor=rita, scope="total", key="", amount="100", reason="stop the book")
    page = client.get(reverse(LIST)).content.decode()
    assert "set by risk (stop the book)" in page  # the default row replaces the environment's
    action = {"action": "remove_limits", "_selected_action": [row.pk]}
    form = client.post(reverse(LIST), action)
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    assert ExposureLimit.objects.exists()
    client.post(reverse(LIST), {**action, "_confirm": "1", "reason": "book open again"})
    assert not ExposureLimit.objects.exists()
    assert AuditLog.objects.get(action="exposure_limit.remove").reason == "book open again"
    assert "PROPHETX_MAX_EXPOSURE_TOTAL" in client.get(reverse(LIST)).content.decode()


def test_the_dashboard_links_to_the_limits(rita):
    from parlays.dashboard import metrics

    card = next(m for m in metrics() if m.key == "exposure_limits")
    assert card.url == reverse(LIST) and card.display == "environment defaults"
    limits.set_exposure_limit(actor=rita, scope="total", key="", amount="100", reason="stop the book")
    card = next(m for m in metrics() if m.key == "exposure_limits")
    assert card.display == "1 set by Risk"
    exposure_card = next(m for m in metrics() if m.key == "open_exposure")
    assert exposure_card.display.endswith("of 100.00 USD")


def test_a_row_of_an_earlier_book_currency_is_read_only_and_removable(client, rita):
    row = limits.set_exposure_limit(actor=rita, scope="event", key="sr:match:5", amount="70", reason="usd book")
    with conf.override(currency="EUR"):
        listing = client.get(reverse(LIST)).content.decode()
        assert "not in force (EUR book)" in listing and "70.00 USD" in listing
        url = reverse("admin:parlays_exposurelimit_change", args=[row.pk])
        assert 'name="reason"' not in client.get(url).content.decode()
        assert client.post(url, {"amount": "1", "reason": "change it anyway"}).status_code == 403
        action = {"action": "remove_limits", "_selected_action": [row.pk], "_confirm": "1", "reason": "old book"}
        client.post(reverse(LIST), action)
    assert not ExposureLimit.objects.exists()
