"""Back office in a real browser (headless Debian Chromium driven by Playwright):

- the reversal flow: Risk requests, Finance approves as another user, balance and history update;
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
        for name, role in [("rita", "Risk"), ("fiona", "Finance")]:
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

    def test_reversal_request_then_approval_by_another_user(self):
        from wallet.selectors import wallet_get

        context = self._browser.new_context()
        page = context.new_page()
        self._login(page, "rita")
        page.goto(f"{self.live_server_url}/admin/wallet/settlement/{self.step.pk}/change/")
        page.click("#request-reversal")
        page.fill("textarea[name=reason]", "provider confirmed the match was void")
        page.screenshot(path=str(ARTIFACTS / "1-request-form.png"), full_page=True)
        page.click("input[name=_submit]")
        expect(page.locator(".messagelist")).to_contain_text("waiting for approval")
        page.screenshot(path=str(ARTIFACTS / "2-request-created.png"), full_page=True)
        assert page.locator("#approve-request").count() == 0  # Risk cannot approve
        context.close()

        context = self._browser.new_context()
        page = context.new_page()
        self._login(page, "fiona")
        page.goto(f"{self.live_server_url}/admin/wallet/staffrequest/?status__exact=pending")
        page.click("table#result_list tbody tr th a")
        page.click("#approve-request")
        page.fill("textarea[name=note]", "checked against the feed")
        page.click("input[name=_submit]")
        expect(page.locator(".messagelist")).to_contain_text("approved and applied")
        page.screenshot(path=str(ARTIFACTS / "3-approved.png"), full_page=True)

        page.goto(f"{self.live_server_url}/admin/wallet/player/{self.alice.pk}/change/")
        expect(page.locator("body")).to_contain_text("15.00")
        page.goto(f"{self.live_server_url}/admin/wallet/bet/?q=ui-bet-1")
        page.click("table#result_list tbody tr th a")
        expect(page.locator("body")).to_contain_text("Staff reversal")
        page.screenshot(path=str(ARTIFACTS / "4-bet-history.png"), full_page=True)
        context.close()
        assert wallet_get(external_id="alice", currency="EUR").balance == Decimal("15")

    def test_dashboard_updates_live(self):
        from config import dashboard
        from wallet.selectors import wallet_get
        from wallet.services.postings import deposit_apply

        context = self._browser.new_context()
        page = context.new_page()
        self._login(page, "fiona")
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
        page.screenshot(path=str(ARTIFACTS / "5-dashboard-live.png"), full_page=True)
        context.close()
