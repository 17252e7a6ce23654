"""Staff views: every feed admin page renders with real data, names are resolved, the journal
is read-only and replayable; the read API answers with token auth."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from feeds.models import (
    BetCancel,
    FeedMessage,
    Market,
    MarketChange,
    MarketDescription,
    MarketSettlement,
    Producer,
    RecoveryRequest,
    SportEvent,
    VariantDescription,
)
from feeds.protocol import rest
from feeds.services import descriptions, fixtures
from tests.factories import make_api_key
from tests.feeds.helpers import alive, apply, odds_change, sample

pytestmark = pytest.mark.django_db

EVENT = "sr:match:8696826"


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("alice", "alice@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def feed_data():
    descriptions.descriptions_store(
        rest.parse_market_descriptions(sample("rest_markets_1.xml")),
        rest.parse_variant_descriptions(sample("rest_variants_1.xml")),
    )
    fixtures.fixture_store(rest.parse_fixture(sample("rest_fixture_1.xml")))
    apply(
        alive(1),
        odds_change(event=EVENT, ts=1000, markets=[(16, "hcp=-1.5", 1, {"1714": "1.95", "1715": "1.85"})]),
        sample("bet_settlement_1.xml"),
        sample("bet_cancel_1.xml"),
        b"garbage",
    )
    RecoveryRequest.objects.create(producer_id=1, requested_at=timezone.now(), status="accepted")


MODELS = [
    Producer,
    RecoveryRequest,
    SportEvent,
    Market,
    MarketChange,
    BetCancel,
    FeedMessage,
    MarketDescription,
    VariantDescription,
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_and_detail_pages_render(staff, feed_data, model):
    opts = model._meta
    listing = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert listing.status_code == 200
    obj = model.objects.first()
    detail = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    assert detail.status_code == 200
    assert staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 403


def test_market_pages_resolve_names(staff, feed_data):
    listing = staff.get(reverse("admin:feeds_market_changelist") + "?q=" + EVENT).content.decode()
    assert "Handicap" in listing
    market = Market.objects.get(event__urn=EVENT, market_id=16)
    detail = staff.get(reverse("admin:feeds_market_change", args=[market.pk])).content.decode()
    assert "IK Oddevold (-1.5)" in detail and "Tvaakers IF (+1.5)" in detail and "1.95" in detail
    event = staff.get(
        reverse("admin:feeds_sportevent_change", args=[SportEvent.objects.get(urn=EVENT).pk])
    ).content.decode()
    assert "IK Oddevold vs. Tvaakers IF" in event and "Handicap" in event


def test_settlement_history_on_the_market_page(staff, feed_data):
    settled = MarketSettlement.objects.select_related("market").filter(market__market_id=201).first()
    page = staff.get(reverse("admin:feeds_market_change", args=[settled.market.pk])).content.decode()
    assert "settlement" in page.lower() and "0.5" in page


def test_journal_shows_rejections_and_replays(staff, feed_data):
    rejected = FeedMessage.objects.get(outcome="rejected")
    page = staff.get(reverse("admin:feeds_feedmessage_change", args=[rejected.pk])).content.decode()
    assert "malformed: not a UTF-8 XML document" in page and "garbage" in page
    applied = FeedMessage.objects.filter(outcome="applied", kind="odds_change")
    response = staff.post(
        reverse("admin:feeds_feedmessage_changelist"),
        {"action": "replay", "_selected_action": [str(pk) for pk in applied.values_list("pk", flat=True)]},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == ["replayed 1: {'duplicate': 1}"]


def test_producer_mark_down_action(staff, feed_data):
    Producer.objects.filter(pk=1).update(status="up")
    staff.post(reverse("admin:feeds_producer_changelist"), {"action": "mark_down", "_selected_action": ["1"]})
    producer = Producer.objects.get(pk=1)
    assert producer.status == "down" and producer.status_reason == "marked down by alice"


def test_read_api_event_markets(client, feed_data):
    key = make_api_key(scopes=("feeds",))[1]
    url = reverse("feeds-event-markets", args=[EVENT])
    assert client.get(url).status_code == 401
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    data = response.json()
    assert data["event"]["name"] == "IK Oddevold vs. Tvaakers IF"
    (line,) = data["markets"]
    assert line["name"] == "Handicap" and line["outcomes"][0] == {
        "id": "1714",
        "name": "IK Oddevold (-1.5)",
        "odds": "1.95",
        "probability": None,
        "active": True,
    }
    assert (
        client.get(reverse("feeds-event-markets", args=["sr:match:0"]), HTTP_AUTHORIZATION=f"Bearer {key}").status_code
        == 404
    )
    producers = client.get(reverse("feeds-producers"), HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert producers[0]["id"] == 1 and producers[0]["usable"] is False


def test_journal_filters(staff, feed_data):
    url = reverse("admin:feeds_feedmessage_changelist")
    page = staff.get(url + "?kind=bet_cancel&product=1&outcome=applied").content.decode()
    assert "sr:match:18941600" in page and "sr:match:8696826" not in page
    assert staff.get(url + "?kind=alive").status_code == 200
