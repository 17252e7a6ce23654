"""Back office in a real browser (headless Debian Chromium driven by Playwright), at 1,366 px:

- find a player and read their balances in BTC and USD;
- triage the review queue: filter, select, resolve in bulk with one note;
- the reversal flow from the bet page: Risk requests, Finance approves as another user,
  balance and history update;
- a Support user sees no money-moving button anywhere;
- Risk lowers an event's exposure limit with a reason and finds it in the list;
- the dashboard updates live over the WebSocket without a reload.

Screenshots go to test-artifacts/browser/. Needs PostgreSQL (the live server runs in another
process) and Redis (its channel layer must be shared with the test process).
"""

from __future__ import annotations

import os
import shutil
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, connections, transaction
from django.test import override_settings

from tests.factories import fund, make_player

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
REDIS = os.environ.get("TOUCHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

try:
    from channels.testing import ChannelsLiveServerTestCase
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - dev requirements missing
    ChannelsLiveServerTestCase = object  # type: ignore[assignment,misc]
    sync_playwright = None

pytestmark = pytest.mark.browser
# What moves money or changes a player, as staff see it (links styled as buttons).
MONEY_BUTTONS = ("Request reversal", "Request adjustment", "Approve and apply", "Reject", "Resolve", "Change status")


def _skip_reason() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (requirements-dev.txt)"
    if CHROMIUM is None:
        return "Debian chromium is not installed (apt-get install chromium)"
    if connection.vendor != "postgresql":
        return "the live server needs PostgreSQL (set DATABASE_URL)"
    return None


@override_settings(
    CHANNEL_LAYERS={"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS]}}},
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
)
class BackOfficeBrowserTests(ChannelsLiveServerTestCase):
    serve_static = True

    @classmethod
    def setUpClass(cls):
        reason = _skip_reason()
        if reason and not os.environ.get("CI"):
            raise pytest.skip.Exception(reason, _use_item_location=True)
        assert reason is None, f"CI must run the browser tests: {reason}"
        # Playwright's sync API keeps an event loop on this thread; Django would then refuse the
        # test's own (synchronous) database calls.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        # The live server process re-derives the test database name as "test_" + NAME, but
        # NAME already is the test database here: pin it so it is not prefixed twice.
        from django.conf import settings

        settings.DATABASES["default"]["TEST"]["NAME"] = settings.DATABASES["default"]["NAME"]
        super().setUpClass()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        cls._playwright = sync_playwright().start()
        cls._browser = cls._playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )

    @classmethod
    def tearDownClass(cls):
        cls._browser.close()
        cls._playwright.stop()
        # Channels' own teardown joins the server process with no timeout, and inside the full
        # suite the forked Daphne child can ignore SIGTERM: terminate, wait, then kill.
        server = cls._server_process
        server.terminate()
        server.join(timeout=10)
        if server.is_alive():
            server.kill()
            server.join(timeout=10)
        cls._live_server_modified_settings.disable()
        super(ChannelsLiveServerTestCase, cls).tearDownClass()
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)

    def setUp(self):
        from wallet.selectors import wallet_get
        from wallet.services.backoffice import roles_ensure
        from wallet.services.postings import bet_place_apply, bet_settle_apply

        self.csp_violations: list[str] = []
        self.addCleanup(lambda: self.assertEqual(self.csp_violations, [], "the admin's CSP blocked something"))
        roles_ensure()
        for name, role in [("rita", "Risk"), ("fiona", "Finance"), ("sam", "Support")]:
            user = get_user_model().objects.create_user(name, password="pw-" + name, is_staff=True)
            user.groups.add(Group.objects.get(name=role))
        self.alice = make_player("alice")
        fund(self.alice, "20")
        with transaction.atomic():
            bet = bet_place_apply(
                provider="demo",
                external_id="ui-bet-1",
                wallet=wallet_get(external_id="alice", currency="EUR"),
                amount=Decimal("5"),
            ).bet
        with transaction.atomic():
            self.step = bet_settle_apply(bet_id=bet.pk, amount=Decimal("10"), result="won").settlement

    def _page(self, name: str):
        """A fresh browser context at a laptop's 1,366 px, logged in as `name`."""
        context = self._browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        self._login(page, name)
        return context, page

    def _fits(self, page) -> None:
        """Nothing runs off the right edge at 1,366 px (no horizontal scrolling)."""
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{page.url} is {overflow}px wider than the window"
        # A changelist scrolls inside its own box: a column cut off there is as hidden.
        hidden = page.evaluate(
            "Math.max(0, ...[...document.querySelectorAll('#changelist .results')]"
            ".map(box => box.scrollWidth - box.clientWidth))"
        )
        assert hidden <= 0, f"{page.url}: the list's last {hidden}px are cut off"

    def _shot(self, page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def _login(self, page, name: str) -> None:
        # The admin runs under a Content-Security-Policy (config/settings.py): anything it blocks
        # shows as a console error, and fails the test at its end (tearDown).
        page.on(
            "console",
            lambda message: "Content Security Policy" in message.text and self.csp_violations.append(message.text),
        )
        page.goto(f"{self.live_server_url}/admin/login/")
        page.fill("#id_username", name)
        page.fill("#id_password", "pw-" + name)
        page.click("input[type=submit]")
        expect(page.locator("#user-tools")).to_contain_text(name)

    def test_find_a_player_and_read_btc_and_usd_balances(self):
        from wallet.services.players import player_create

        carol = player_create(external_id="carol-7", currencies=["USD", "BTC"], nickname="Carol")
        fund(carol, "205.50", currency="USD")
        fund(carol, "0.00012345", currency="BTC")
        context, page = self._page("sam")
        page.goto(f"{self.live_server_url}/admin/wallet/player/")
        page.fill("#searchbar", "carol-7")
        page.press("#searchbar", "Enter")
        row = page.locator("table#result_list tbody tr").first
        expect(row).to_contain_text("0.00012345 BTC")
        expect(row).to_contain_text("205.50 USD")
        self._fits(page)
        self._shot(page, "01-player-search")
        row.locator("th a").click()
        expect(page.locator(".inline-group").first).to_contain_text("0.00012345 BTC")
        expect(page.locator(".inline-group").first).to_contain_text("205.50 USD")
        self._fits(page)
        self._shot(page, "02-player-page")
        context.close()

    def test_triage_the_queue_filter_then_bulk_resolve(self):
        from wallet import conf
        from wallet.models import ReviewItem
        from wallet.selectors import wallet_get
        from wallet.services.postings import bet_place_apply, bet_settle_apply

        fund(self.alice, "100")
        big = conf.REVIEW_LARGE_WIN_AMOUNT
        for n in range(3):
            with transaction.atomic():
                bet = bet_place_apply(
                    provider="demo",
                    external_id=f"ui-big-{n}",
                    wallet=wallet_get(external_id="alice", currency="EUR"),
                    amount=Decimal("5"),
                ).bet
            with transaction.atomic():
                bet_settle_apply(bet_id=bet.pk, amount=big + n, result="won")
        with transaction.atomic():
            bet_settle_apply(bet_id=self.step.bet_id, amount=self.step.amount + 500, result="won")  # a re-settle
        assert ReviewItem.objects.filter(kind="large_win").count() == 3

        context, page = self._page("rita")
        page.goto(f"{self.live_server_url}/admin/dashboard/")
        page.click('[data-metric="wallet.review_queue"]')  # the card opens the open queue
        expect(page.locator("table#result_list tbody tr")).to_have_count(4)
        page.locator("#changelist-filter").get_by_role("link", name="Large win").click()
        rows = page.locator("table#result_list tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.first).to_contain_text("EUR")
        self._fits(page)
        self._shot(page, "03-queue-filtered")
        page.check("#action-toggle")
        page.select_option("select[name=action]", "resolve_items")
        page.click("button[name=index]")
        page.fill("textarea[name=reason]", "limits checked; the wins are genuine")
        self._shot(page, "04-queue-bulk-resolve-form")
        page.click("input[name=_submit]")
        expect(page.locator(".messagelist")).to_contain_text("3 review item(s) resolved")
        self._shot(page, "05-queue-resolved")
        page.goto(f"{self.live_server_url}/admin/wallet/reviewitem/?status__exact=open")
        page.click("table#result_list tbody tr th a")
        title = page.locator("#content h2").first.bounding_box()
        tools = page.locator(".object-tools").bounding_box()
        assert title["y"] + title["height"] <= tools["y"] or title["x"] + title["width"] <= tools["x"]  # no overlap
        self._fits(page)
        self._shot(page, "05b-queue-item")
        context.close()
        assert ReviewItem.objects.filter(status="open").count() == 1

    def test_reversal_from_the_bet_page_approved_by_another_user(self):
        from wallet.selectors import wallet_get

        context, page = self._page("rita")
        page.goto(f"{self.live_server_url}/admin/wallet/bet/?q=ui-bet-1")
        expect(page.locator("#changelist-search")).to_contain_text("A bet id or a player id, exactly as written")
        expect(page.locator("table#result_list tbody tr")).to_have_count(1)
        self._fits(page)
        self._shot(page, "06a-bet-search")
        page.click("table#result_list tbody tr th a")
        self._fits(page)
        self._shot(page, "06-bet-history")
        page.click(f"#request-reversal-{self.step.pk}")
        summary = page.locator("#reversal-summary")
        expect(summary).to_contain_text("10.00 EUR from the player")
        expect(summary).to_contain_text("25.00 EUR → 15.00 EUR")
        expect(page.locator("h1")).to_have_count(1)
        page.fill("textarea[name=reason]", "provider confirmed the match was void")
        self._shot(page, "07-request-form")
        page.click("input[name=_submit]")
        expect(page.locator(".messagelist")).to_contain_text("waiting for approval")
        self._shot(page, "08-request-created")
        assert page.locator("#approve-request").count() == 0  # Risk cannot approve
        context.close()

        context, page = self._page("fiona")
        page.goto(f"{self.live_server_url}/admin/wallet/staffrequest/?status__exact=pending")
        page.click("table#result_list tbody tr th a")
        page.click("#approve-request")
        page.fill("textarea[name=note]", "checked against the feed")
        page.click("input[name=_submit]")
        expect(page.locator(".messagelist")).to_contain_text("approved and applied")
        self._shot(page, "09-approved")

        page.goto(f"{self.live_server_url}/admin/wallet/player/{self.alice.pk}/change/")
        expect(page.locator("body")).to_contain_text("15.00 EUR")
        page.goto(f"{self.live_server_url}/admin/wallet/bet/?q=ui-bet-1")
        page.click("table#result_list tbody tr th a")
        expect(page.locator("body")).to_contain_text("Staff reversal")
        self._shot(page, "10-bet-history-reversed")
        context.close()
        assert wallet_get(external_id="alice", currency="EUR").balance == Decimal("15")

    def test_support_sees_no_money_moving_button(self):
        from wallet.models import ReviewItem, StaffRequest
        from wallet.services import backoffice

        item = ReviewItem.objects.create(kind="resettle", summary="demo", settlement=self.step, bet=self.step.bet)
        request = backoffice.reversal_request(
            settlement_id=self.step.pk,
            reason="provider confirmed the match was void",
            actor=get_user_model().objects.get(username="rita"),
        )
        assert StaffRequest.objects.filter(pk=request.pk).exists()
        context, page = self._page("rita")  # the same pages show Risk the buttons its role allows
        page.goto(f"{self.live_server_url}/admin/wallet/reviewitem/{item.pk}/change/")
        assert page.get_by_role("link", name="Resolve", exact=True).count() == 1
        context.close()
        context, page = self._page("sam")
        pages = {
            "11-support-bet": f"/admin/wallet/bet/{self.step.bet_id}/change/",
            "12-support-player": f"/admin/wallet/player/{self.alice.pk}/change/",
            "13-support-review-item": f"/admin/wallet/reviewitem/{item.pk}/change/",
            "14-support-request": f"/admin/wallet/staffrequest/{request.pk}/change/",
            "15-support-queue": "/admin/wallet/reviewitem/",
        }
        for name, url in pages.items():
            page.goto(self.live_server_url + url)
            for label in MONEY_BUTTONS:
                assert page.get_by_role("link", name=label, exact=True).count() == 0, f"{label} on {url}"
            self._fits(page)
            self._shot(page, name)
        actions = page.locator("select[name=action] option").all_inner_texts()
        assert not any("Resolve" in text or "Assign" in text for text in actions)
        context.close()

    def test_feed_and_parlay_screens_fit_a_laptop(self):
        from feeds.models import Market
        from feeds.protocol import rest
        from feeds.services import descriptions, fixtures
        from tests.feeds.helpers import alive, apply, odds_change, sample

        descriptions.descriptions_store(
            rest.parse_market_descriptions(sample("rest_markets_1.xml")),
            rest.parse_variant_descriptions(sample("rest_variants_1.xml")),
        )
        fixtures.fixture_store(rest.parse_fixture(sample("rest_fixture_1.xml")))
        apply(
            alive(1),
            odds_change(
                event="sr:match:8696826",
                ts=1000,
                markets=[
                    (16, "hcp=-1.5", 1, {"1714": "1.95", "1715": "1.85"}),
                    (1, "", 1, {"1": "2.1", "2": "3.4", "3": "3.1"}),
                ],
            ),
        )
        market = Market.objects.get(market_id=16)
        context, page = self._page("sam")
        screens = {
            "17-feed-producers": "/admin/feeds/producer/",
            "18-feed-markets": "/admin/feeds/market/",
            "19-feed-market": f"/admin/feeds/market/{market.pk}/change/",
            "20-feed-event": f"/admin/feeds/sportevent/{market.event_id}/change/",
            "21-parlay-orders": "/admin/parlays/order/",
            "22-parlay-quotes": "/admin/parlays/quoterequest/",
            "23-fast-track-outbox": "/admin/crm/outboxevent/",
        }
        for name, url in screens.items():
            page.goto(self.live_server_url + url)
            expect(page.locator("#content")).to_be_visible()
            self._fits(page)
            self._shot(page, name)
        page.goto(self.live_server_url + "/admin/feeds/market/")
        expect(page.locator("table#result_list")).to_contain_text("1.95")
        assert "1714:" not in page.locator("table#result_list").inner_text()
        context.close()

    def test_risk_lowers_an_event_exposure_limit(self):
        from parlays.models import ExposureLimit, PxEvent
        from wallet.models import AuditLog

        PxEvent.objects.create(sport_event_id=4301, name="Lions vs. Tigers", event_urn="sr:match:43000001")
        context, page = self._page("rita")
        page.goto(f"{self.live_server_url}/admin/parlays/exposurelimit/")
        expect(page.locator("#default-event")).to_contain_text("5,000.00 USD")
        expect(page.locator("#default-event")).to_contain_text("PROPHETX_MAX_EXPOSURE_EVENT")
        page.get_by_role("link", name="Add exposure limit").click()
        page.select_option("select[name=scope]", "event")
        page.fill("input[name=key]", "sr:match:43000001")
        page.fill("input[name=amount]", "750")
        page.click("input[name=_submit]")  # no reason yet: the form is not sent
        assert not ExposureLimit.objects.exists()
        page.fill("textarea[name=reason]", "injury news: halve the exposure on this game")
        self._fits(page)
        self._shot(page, "25-exposure-limit-form")
        page.click("input[name=_submit]")
        expect(page.locator(".messagelist")).to_contain_text("is now 750.00 USD")
        row = page.locator("table#result_list tbody tr").first
        expect(row).to_contain_text("Lions vs. Tigers")
        expect(row).to_contain_text("750.00 USD")
        expect(row).to_contain_text("injury news")
        self._fits(page)
        self._shot(page, "26-exposure-limits")
        context.close()
        limit = ExposureLimit.objects.get()
        assert (limit.key, limit.amount, limit.updated_by.username) == ("sr:match:43000001", Decimal("750"), "rita")
        assert AuditLog.objects.get(action="exposure_limit.set").reason.startswith("injury news")

    def test_api_docs_work_offline(self):
        context = self._browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        outside = []

        def only_local(route):  # no internet: anything not from the live server fails
            if route.request.url.startswith(self.live_server_url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        credit = "https://cdn.redoc.ly/redoc/logo-mini.svg"  # see below: blocked, and rightly so
        page.on(  # the docs run under the site's CSP: anything else it blocks fails the test
            "console",
            lambda message: (
                "Content Security Policy" in message.text
                and credit not in message.text
                and self.csp_violations.append(message.text)
            ),
        )
        page.goto(f"{self.live_server_url}/api/docs/")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Touchline API", timeout=15000)
        self._shot(page, "24-api-docs-offline")
        page.goto(f"{self.live_server_url}/api/redoc/")
        expect(page.locator("h1").first).to_contain_text("Touchline API", timeout=15000)
        # ReDoc's bundle always asks for its "by Redocly" credit logo and hides it when that fails:
        # the one outside request allowed to fail.
        assert set(outside) <= {credit}, outside
        context.close()

    def test_dashboard_updates_live(self):
        from config import dashboard
        from wallet.selectors import wallet_get
        from wallet.services.transfers import deposit_apply

        context, page = self._page("fiona")
        page.goto(f"{self.live_server_url}/admin/dashboard/")
        expect(page.locator("#dash-status")).to_contain_text("live", timeout=10000)
        card = page.locator('[data-metric="wallet.postings_per_min"] .dash-value')
        before = int(card.inner_text())
        with transaction.atomic():
            deposit_apply(
                wallet=wallet_get(external_id="alice", currency="EUR"),
                amount=Decimal("1"),
                reference="live-1",
                actor_id=None,
            )

        # What Celery beat does every 2 s; from another thread, as Playwright owns this one's loop.
        def broadcast() -> None:
            try:
                dashboard.broadcast()
            finally:
                # The thread's own database connection: left open, it outlived the suite and
                # kept the test database from being dropped ("accessed by other users").
                connections.close_all()

        sender = threading.Thread(target=broadcast)
        sender.start()
        sender.join()
        expect(card).to_have_text(str(before + 1), timeout=10000)
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
        self._shot(page, "16-dashboard-live")
        context.close()
