"""The feed screens as staff read them: outcome names beside odds, status labels instead of
codes, local times with the zone, producers not in use greyed rather than red, and an event
name on every row (its fixture is fetched when it is missing)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from feeds.models import Market, Producer, SportEvent
from tests.feeds.test_admin_and_api import EVENT, feed_data, staff  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"<[^>]+>", " ", response.content.decode())


def test_market_list_shows_outcome_names_beside_odds_and_status_labels(staff, feed_data):  # noqa: F811
    page = text(staff.get(reverse("admin:feeds_market_changelist")))
    assert "1714:" not in page and re.search(r"\(-1\.5\)\s+1\.95", page), page[-3000:]
    assert "active" in page
    filters = staff.get(reverse("admin:feeds_market_changelist")).content.decode().split('id="changelist-filter"')[1]
    assert ">suspended<" in filters and ">-1<" not in filters


def test_market_page_shows_times_not_epochs(staff, feed_data):  # noqa: F811
    market = Market.objects.get(market_id=16)
    page = text(staff.get(reverse("admin:feeds_market_change", args=[market.pk])))
    assert "UTC" in page and str(market.odds_ts) not in page


def test_producers_not_in_use_are_grey_not_red(staff, feed_data):  # noqa: F811
    Producer.objects.update_or_create(
        pk=7, defaults={"name": "unused", "active": False, "subscribed": False, "last_alive_at": None}
    )
    Producer.objects.update_or_create(pk=2, defaults={"name": "producer 2"})
    html = staff.get(reverse("admin:feeds_producer_changelist")).content.decode()
    row = html.split("/admin/feeds/producer/7/change/")[1].split("</tr>")[0]
    assert "not in use" in row and "tl-bad" not in row
    assert "not in producers.xml" in html


def test_an_event_without_a_name_shows_its_urn_and_gets_its_fixture_fetched(staff, feed_data):  # noqa: F811
    nameless = SportEvent.objects.create(urn="sr:match:999", fixture_needed=False)
    page = text(staff.get(reverse("admin:feeds_sportevent_changelist")))
    assert "sr:match:999 (fixture pending)" in page
    nameless.refresh_from_db()
    assert nameless.fixture_needed
    named = SportEvent.objects.get(urn=EVENT)
    assert named.name and named.name in page
