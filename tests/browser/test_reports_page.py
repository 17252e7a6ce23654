"""The money report in a real browser: Finance filters it, sees the chart and the totals, and
downloads the CSV and XLSX, which hold exactly the table's cells.

Reuses the back-office browser harness (live server, Debian Chromium). Screenshots go to
test-artifacts/browser/reports-*.png.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from openpyxl import load_workbook

from tests.browser import test_backoffice_flows as harness
from tests.factories import fund, make_player

ARTIFACTS, expect = harness.ARTIFACTS, harness.expect


class ReportBrowserTests(harness.BackOfficeBrowserTests):
    def setUp(self):
        super().setUp()  # fiona (Finance), alice with a settled bet (5 staked, 10 paid)
        from reports import services
        from reports.rollups import business_day
        from wallet.selectors import wallet_get
        from wallet.services.postings import bet_place_apply

        bob = make_player("bob", currencies=("USD",))
        fund(bob, "50", "USD")
        with transaction.atomic():
            bet_place_apply(
                provider="betsy",
                external_id="ui-usd-1",
                wallet=wallet_get(external_id="bob", currency="USD"),
                amount=Decimal("12.5"),
                brand="vip",  # a Betsy sub-brand (subPartnerId)
            )
        self.today = business_day(timezone.now())
        services.rollups_rebuild(self.today - timedelta(days=2), self.today)

    def test_report_page_filters_chart_and_exports(self):
        context = self._browser.new_context(accept_downloads=True)
        page = context.new_page()
        self._login(page, "fiona")
        page.goto(f"{self.live_server_url}/admin/reports/dailyrollup/")
        expect(page.locator("#report-table")).to_contain_text("Total")
        expect(page.locator("#report-table")).to_contain_text("12.50 USD")
        expect(page.locator("#report-chart svg")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "reports-1-all.png"), full_page=True)

        page.select_option("#f-brand", "vip")
        page.click("#report-show")
        expect(page.locator("#report-table")).to_contain_text("12.50 USD")
        expect(page.locator("#report-table")).not_to_contain_text("EUR")
        expect(page.locator("#f-brand")).to_have_value("vip")
        page.screenshot(path=str(ARTIFACTS / "reports-3-brand.png"), full_page=True)
        page.select_option("#f-brand", "")

        page.select_option("#f-currency", "EUR")
        page.click("#report-show")
        expect(page.locator("#report-table")).not_to_contain_text("USD")
        expect(page.locator("#report-table")).to_contain_text("-5.00 EUR")  # GGR: 5 staked, 10 paid
        page.screenshot(path=str(ARTIFACTS / "reports-2-eur.png"), full_page=True)
        cells = [
            [cell.inner_text() for cell in row.locator("td").all()]
            for row in page.locator("#report-table tbody tr").all()
        ]

        with page.expect_download() as info:
            page.click("#export-csv")
        exported = list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
        assert exported[0] == [c.text_content().strip() for c in page.locator("#report-table thead th").all()]
        assert exported[1 : 1 + len(cells)] == cells

        with page.expect_download() as info:
            page.click("#export-xlsx")
        sheet = load_workbook(io.BytesIO(info.value.path().read_bytes())).active
        first = [c.value for c in sheet[2]]
        assert first[:4] == cells[0][:4]
        assert Decimal(str(first[4 + 9])) == Decimal("-5")  # the GGR column, as a number
        context.close()


# The harness's own flows run in their module; this class runs only the report's.
for _name in [name for name in vars(harness.BackOfficeBrowserTests) if name.startswith("test_")]:
    setattr(ReportBrowserTests, _name, None)
