"""Exposure limits Risk manages: the environment's defaults until a row replaces them, per-event
and per-outcome overrides, removal, validation, roles, and how fast the book sees a change."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from parlays import conf
from parlays.models import Confirmation, ExposureLimit, QuoteRequest
from parlays.services import exposure, limits
from parlays.services.exposure import ExposureView, LegKeys, limit_for, load_limits
from tests.factories import user_with
from tests.parlays.conftest import Desk, map_games, settings_for_tests
from wallet.errors import InvalidRequest, PermissionDenied
from wallet.models import AuditLog

pytestmark = pytest.mark.django_db

EVENT = "sr:match:43000001"
OUTCOME = f"{EVENT}/18/total=2.5/12"


@pytest.fixture
def rita():
    return user_with("Risk")


def test_the_environment_decides_until_a_row_exists():
    settings = conf.get()
    assert load_limits(settings).defaults == {
        "total": settings.max_exposure_total,
        "event": settings.max_exposure_event,
        "outcome": settings.max_exposure_outcome,
    }
    assert limit_for("total", settings, exposure.TOTAL_KEY) == settings.max_exposure_total
    assert limit_for("event", settings, EVENT) == settings.max_exposure_event
    assert limit_for("outcome", settings, OUTCOME) == settings.max_exposure_outcome


def test_an_event_limit_overrides_the_default_for_that_event_only(rita):
    settings = conf.get()
    row = limits.set_exposure_limit(actor=rita, scope="event", key=EVENT, amount="700.50", reason="team news pending")
    assert (row.amount, row.currency, row.updated_by, row.reason) == (
        Decimal("700.50"),
        settings.currency,
        rita,
        "team news pending",
    )
    assert limit_for("event", settings, EVENT) == Decimal("700.50")
    assert limit_for("event", settings, "sr:match:2") == settings.max_exposure_event
    audit = AuditLog.objects.get(action="exposure_limit.set")
    assert (audit.actor, audit.object_type, audit.object_id, audit.reason) == (
        rita,
        "parlays.ExposureLimit",
        str(row.pk),
        "team news pending",
    )
    assert audit.data == {"scope": "event", "key": EVENT, "currency": "USD", "amount": "700.50", "previous": None}

    limits.set_exposure_limit(actor=rita, scope="event", key=EVENT, amount="300", reason="news confirmed, lower")
    assert ExposureLimit.objects.get().amount == Decimal("300")  # changed in place, not a second row
    assert AuditLog.objects.filter(action="exposure_limit.set").first().data["previous"] == "700.50"


def test_an_outcome_limit_and_a_default_row(rita):
    settings = conf.get()
    limits.set_exposure_limit(
        actor=rita, scope="outcome", key=f"{EVENT}/18/total=2.5/12", amount="40", reason="sharp money on the over"
    )
    limits.set_exposure_limit(actor=rita, scope="outcome", key="", amount="900", reason="smaller outcomes today")
    limits.set_exposure_limit(actor=rita, scope="total", key="", amount="12000", reason="quarter-end cap")
    book = load_limits(settings)
    assert book.limit("outcome", OUTCOME) == Decimal("40")
    assert book.limit("outcome", f"{EVENT}/18/total=3.5/12") == Decimal("900")  # the default row, not the env
    assert book.limit("total", exposure.TOTAL_KEY) == Decimal("12000")
    assert book.limit("event", EVENT) == settings.max_exposure_event
    # The headroom of a parlay is the tightest of its keys.
    keys = exposure.exposure_keys([LegKeys(EVENT, OUTCOME)])
    assert exposure.headroom(keys, {("outcome", OUTCOME): Decimal("15")}, book) == Decimal("25")


def test_specifiers_are_stored_as_reservations_name_them(rita):
    row = limits.set_exposure_limit(
        actor=rita, scope="outcome", key=f" {EVENT}/18/total=2.5|b=1/12 ", amount="10", reason="order of specifiers"
    )
    assert row.key == f"{EVENT}/18/b=1|total=2.5/12"


def test_removal_falls_back_to_the_default(rita):
    settings = conf.get()
    limits.set_exposure_limit(actor=rita, scope="event", key="", amount="2000", reason="quiet weekend")
    limits.set_exposure_limit(actor=rita, scope="event", key=EVENT, amount="100", reason="suspicious line move")
    limits.remove_exposure_limit(actor=rita, scope="event", key=EVENT, reason="line move explained")
    assert limit_for("event", settings, EVENT) == Decimal("2000")
    limits.remove_exposure_limit(actor=rita, scope="event", key="", reason="back to normal")
    assert limit_for("event", settings, EVENT) == settings.max_exposure_event
    assert not ExposureLimit.objects.exists()
    removed = AuditLog.objects.filter(action="exposure_limit.remove").order_by("id")
    assert [(a.data["key"], a.reason) for a in removed] == [(EVENT, "line move explained"), ("", "back to normal")]
    with pytest.raises(InvalidRequest):
        limits.remove_exposure_limit(actor=rita, scope="event", key=EVENT, reason="nothing to remove")


@pytest.mark.parametrize(
    ("scope", "key", "amount", "reason"),
    [
        ("event", EVENT, "-1", "negative amount"),
        ("event", EVENT, "10.001", "finer than USD"),
        ("event", EVENT, 10.5, "a float, never"),
        ("event", EVENT, "1e3", "exponent notation"),
        ("event", EVENT, "", "blank amount"),
        ("event", EVENT, "10", "   "),
        ("event", EVENT, "10", ""),
        ("event", "match 1", "10", "not a urn"),
        ("event", OUTCOME, "10", "an outcome key on the event scope"),
        ("outcome", EVENT, "10", "an event key on the outcome scope"),
        ("outcome", f"{EVENT}/x/total=2.5/12", "10", "market is not a number"),
        ("outcome", f"{EVENT}/18/total/12", "10", "specifier without a value"),
        ("total", "all", "10", "the total has no key"),
        ("market", "", "10", "no such scope"),
    ],
)
def test_invalid_input_changes_nothing(rita, scope, key, amount, reason):
    with pytest.raises(InvalidRequest):
        limits.set_exposure_limit(actor=rita, scope=scope, key=key, amount=amount, reason=reason)
    assert not ExposureLimit.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="exposure_limit").exists()


def test_a_zero_limit_is_allowed(rita):
    limits.set_exposure_limit(actor=rita, scope="event", key=EVENT, amount="0", reason="event under investigation")
    assert limit_for("event", conf.get(), EVENT) == Decimal("0")


@pytest.mark.parametrize("role", ["Support", "Finance"])
def test_support_and_finance_are_refused_and_the_refusal_is_audited(rita, role):
    user = user_with(role)
    with pytest.raises(PermissionDenied):
        limits.set_exposure_limit(actor=user, scope="event", key=EVENT, amount="10", reason="I would like to")
    assert not ExposureLimit.objects.exists()
    refused = AuditLog.objects.get(action="exposure_limit.set.refused")
    assert refused.actor == user
    assert (refused.data["scope"], refused.data["key"], refused.data["amount"]) == ("event", EVENT, "10")
    limits.set_exposure_limit(actor=rita, scope="event", key=EVENT, amount="10", reason="risk sets it")
    with pytest.raises(PermissionDenied):
        limits.remove_exposure_limit(actor=user, scope="event", key=EVENT, reason="I would like to")
    assert ExposureLimit.objects.exists()
    assert AuditLog.objects.filter(action="exposure_limit.remove.refused", actor=user).exists()


def test_admin_may_set_and_remove():
    boss = user_with("Admin")
    limits.set_exposure_limit(actor=boss, scope="total", key="", amount="1", reason="emergency stop")
    limits.remove_exposure_limit(actor=boss, scope="total", key="", reason="emergency over")
    assert not ExposureLimit.objects.exists()


def test_a_row_of_another_currency_is_not_in_force(rita):
    limits.set_exposure_limit(actor=rita, scope="event", key=EVENT, amount="5", reason="set in the USD book")
    with conf.override(currency="EUR"):
        assert limit_for("event", conf.get(), EVENT) == conf.get().max_exposure_event
        limits.remove_exposure_limit(actor=rita, scope="event", key=EVENT, reason="old book", currency="USD")
    assert not ExposureLimit.objects.exists()


# --- the book reads them ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_lowered_limit_declines_the_next_quote_and_confirmation(postgres_only, games, rita):
    map_games(games)
    desk = Desk(games, settings_for_tests())  # event limit 1500, outcome 1000
    home, event = desk.line(0, 219, 4), games[0].event_urn
    first, outcome = desk.ask([home, desk.line(1, 225, 12)])
    assert outcome == "quoted"
    assert desk.confirm(first, desk.offers()[-1]["odds"], "300")[1] == "accept:delivered"
    pending, outcome = desk.ask([home, desk.line(2, 225, 12)])  # quoted before the change
    assert outcome == "quoted"
    pending_odds = desk.offers()[0]["odds"]

    limits.set_exposure_limit(actor=rita, scope="event", key=event, amount="300", reason="injury news on game 0")

    # The next RFQ on that event finds no headroom: no offer.
    late, outcome = desk.ask([home, desk.line(3, 225, 13)])
    assert outcome == "declined"
    assert QuoteRequest.objects.get(parlay_id=late).decline_reason == "exposure_limit"
    # The offer made before the change is confirmed after it: refused under the book lock.
    assert desk.confirm(pending, pending_odds, "100")[1] == "reject:delivered"
    assert Confirmation.objects.get(parlay_id=pending).reason == "exposure_limit"
    # Other events are untouched.
    other, outcome = desk.ask([desk.line(1, 225, 12), desk.line(2, 225, 12)])
    assert outcome == "quoted"

    limits.set_exposure_limit(actor=rita, scope="event", key=event, amount="400", reason="news was minor")
    again, outcome = desk.ask([home, desk.line(3, 225, 13)])
    assert outcome == "quoted"
    assert max(offer["max_risk"] for offer in desk.offers()) == Decimal("100.00")  # 400 - 300 held


@pytest.mark.django_db(transaction=True)
def test_a_change_mid_stream_is_seen_by_the_next_snapshot(postgres_only, rita):
    settings = settings_for_tests()  # outcome limit 1000
    view = ExposureView(settings, ttl=3600)  # never expires on its own here
    legs = [LegKeys(EVENT, OUTCOME), LegKeys("sr:match:2", "sr:match:2/1//1")]
    view.refresh()
    assert view.risk_cap(legs) == Decimal("1000")
    committed = threading.Event()
    seen: list[tuple[bool, Decimal]] = []
    failures: list[BaseException] = []

    def quote_stream() -> None:  # a quote thread pricing RFQs while Risk changes the limit
        try:
            after = 0
            while after < 20:
                was_committed = committed.is_set()
                seen.append((was_committed, view.risk_cap(legs)))
                after += was_committed
        except BaseException as error:  # noqa: BLE001 - reported to the test thread
            failures.append(error)
            committed.set()
        finally:
            connection.close()

    stream = threading.Thread(target=quote_stream)
    stream.start()
    limits.set_exposure_limit(actor=rita, scope="outcome", key=OUTCOME, amount="250", reason="limit the over")
    committed.set()  # set_exposure_limit returned: committed, and this process's snapshots told
    stream.join(timeout=60)
    assert not stream.is_alive() and not failures
    assert {cap for was_committed, cap in seen if was_committed} == {Decimal("250")}
    assert {cap for _, cap in seen} <= {Decimal("1000"), Decimal("250")}

    # Another process (the web admin) changed it: this one sees it at its next refresh, which
    # the listener's upkeep runs every few seconds.
    ExposureLimit.objects.filter(key=OUTCOME).update(amount=Decimal("50"))
    assert view.risk_cap(legs) == Decimal("250")  # the snapshot still stands
    view.refresh()
    assert view.risk_cap(legs) == Decimal("50")
    expiring = ExposureView(settings, ttl=0)
    assert expiring.risk_cap(legs) == Decimal("50")
