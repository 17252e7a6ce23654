"""Report pages, exports, statements and the operator API over the story's rollups."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client
from openpyxl import load_workbook

from reports import services
from tests.factories import api_client
from tests.reports.conftest import DAY1, DAY2, staff

QUERY = "?from=2026-11-02&to=2026-11-03&period=day"


@pytest.fixture
def built(story):
    services.rollups_rebuild(DAY1, DAY2)
    return story


def login(role: str, name: str) -> Client:
    client = Client()
    client.force_login(staff(name, role))
    return client


def test_finance_sees_the_report_with_totals_chart_and_precision(built):
    page = login("Finance", "fin").get("/admin/reports/dailyrollup/" + QUERY)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "Turnover and GGR" in html
    assert "-25.00 USD" in html  # day 1 Betsy GGR
    assert "-9.00 EUR" in html  # day 1 IGPX GGR
    assert "Total" in html
    assert '<td class="num">-25.00 USD</td>' in html  # amounts right-aligned, never wrapped


def test_support_and_risk_cannot_read_reports(built):
    risk = login("Risk", "risky")  # Risk includes Support: statements, not reports
    assert risk.get("/admin/reports/dailyrollup/export.xlsx").status_code == 403
    assert login("Finance", "fin").get("/admin/reports/dailyrollup/").status_code == 200
    support = login("Support", "sup")
    assert support.get("/admin/reports/dailyrollup/").status_code == 302  # to the statement page
    assert support.get("/admin/reports/dailyrollup/export.csv").status_code == 403
    assert support.get("/admin/reports/dailyrollup/statement/?player=carol&currency=USD").status_code == 200
    assert support.get("/admin/reports/reconciliationrun/").status_code == 403


def test_csv_and_xlsx_hold_exactly_what_is_on_screen(built):
    client = login("Finance", "fin")
    query = QUERY + "&currency=USD"
    html = client.get("/admin/reports/dailyrollup/" + query).content.decode()
    rows = list(csv.reader(io.StringIO(client.get("/admin/reports/dailyrollup/export.csv" + query).content.decode())))
    header, body = rows[0], [r for r in rows[1:] if len(r) > 1]
    assert header[:5] == ["Period", "Provider", "Brand", "Currency", "Bets"]
    assert [r[:4] for r in body] == [
        ["2026-11-02", "betsy", "(none)", "USD"],
        ["2026-11-03", "betsy", "(none)", "USD"],
        ["2026-11-03", "betsy", "vip", "USD"],
        ["2026-11-03", "staff", "(none)", "USD"],
        ["Total", "all", "all", "USD"],
    ]
    for row in body:
        for cell in row:
            assert f">{cell}</td>" in html  # every exported cell is a cell on the page
    ggr = header.index("GGR")
    # day 1: -25 real + 5 bonus; day 2: 50 real + 0 bonus + 25 staff + 8 vip
    assert body[-1][ggr] == "63.00 USD"
    assert body[-1][header.index("Players*")] == "2"  # carol and dave, each once over both days
    book = load_workbook(io.BytesIO(client.get("/admin/reports/dailyrollup/export.xlsx" + query).content))
    sheet = book.active
    values = [[c.value for c in r] for r in sheet.iter_rows(min_row=1, max_row=len(body) + 1)]
    assert values[0] == header
    assert [v[:4] for v in values[1:]] == [r[:4] for r in body]
    assert Decimal(str(values[-1][ggr])) == Decimal("63")
    assert sheet.cell(row=len(body) + 1, column=ggr + 1).number_format == '#,##0.00 "USD"'


def test_conversion_only_where_a_rate_is_configured(built, settings):
    settings.REPORT_CURRENCY = "EUR"
    settings.REPORT_EXCHANGE_RATES = ["USD=0.5"]
    html = login("Finance", "fin").get("/admin/reports/dailyrollup/" + QUERY).content.decode()
    assert "Total converted to EUR" in html and "USD×0.5" in html
    settings.REPORT_EXCHANGE_RATES = []
    settings.REPORT_CURRENCY = "GBP"
    html = login("Finance", "fin2").get("/admin/reports/dailyrollup/" + QUERY).content.decode()
    assert "converted to GBP" in html and "No exchange rate configured for EUR, USD" in html
    assert "Total converted" not in html


def test_statement_page_and_csv_with_running_balance(built):
    client = login("Support", "sup")
    url = "/admin/reports/dailyrollup/statement/?player=carol&currency=USD&from=2026-11-01&to=2026-11-03"
    html = client.get(url).content.decode()
    assert "Opening balance" in html
    rows = list(csv.reader(io.StringIO(client.get(url + "&format=csv").content.decode())))
    assert rows[1] == ["Opening balance", "0.00 USD"]
    lines = rows[3:-1]
    assert lines[0][9] == "+20.00 USD" and lines[0][10] == "20.00 USD"  # the deposit
    # Real 0, bonus 0 after c-b3; the rollback of c-b1 gave back 20 + 5 and took 40: -15 (20 of debt).
    assert rows[-1] == ["Closing balance", "-15.00 USD"]
    balance = Decimal(0)
    for line in lines:
        balance += Decimal(line[9].split()[0].replace(",", ""))
        assert Decimal(line[10].split()[0].replace(",", "")) == balance
    error = client.get("/admin/reports/dailyrollup/statement/?player=nobody&currency=USD").content.decode()
    assert "no player" in error


def test_operator_api_report_paginated_and_in_schema(built):
    client = api_client(name="finance tool", scopes=("reports",))
    reply = client.get("/api/operator/reports/daily/" + QUERY + "&page_size=2")
    assert reply.status_code == 200, reply.content
    data = reply.json()
    assert (data["count"], data["pages"], len(data["results"])) == (6, 3, 2)
    assert data["results"][0] == {
        "period": "2026-11-02",
        "label": "2026-11-02",
        "provider": "betsy",
        "brand": "",
        "currency": "USD",
        "converted": False,
        "bets_count": 4,
        "stakes": "45.00",
        "payouts": "75.00",
        "refunds": "0.00",
        "rollbacks": "0.00",
        "resettle_adjustments": "-10.00",
        "unsettle_adjustments": "0.00",
        "staff_reversals": "0.00",
        "staff_adjustments": "0.00",
        "ggr": "-20.00",
        "hold_percent": "-44.44",
        "unique_players": 2,  # carol bet real and bonus money: one player (dave the other)
        "open_liability": "10.00",
        "new_debt": "0.00",
    }
    assert {t["currency"] for t in data["totals"]} == {"EUR", "USD"}
    igpx = data["results"][1]
    assert (igpx["provider"], igpx["open_liability"]) == ("igpx", None)  # not available, never "0.00"
    assert {t["currency"]: t["open_liability"] for t in data["totals"]} == {"EUR": None, "USD": "45.00"}
    vip = client.get("/api/operator/reports/daily/" + QUERY + "&brand=vip").json()
    assert [(r["brand"], r["stakes"]) for r in vip["results"]] == [("vip", "8.00")]
    bad = client.get("/api/operator/reports/daily/?from=yesterday")
    assert bad.status_code == 400 and "not a date" in bad.json()["error"]["message"]
    assert client.get("/api/operator/reports/daily/?to=9999-12-31").status_code == 400
    assert client.get("/api/operator/reports/statements/nobody/?currency=USD").status_code == 404
    statement = client.get("/api/operator/reports/statements/carol/?currency=USD&from=2026-11-01&to=2026-11-03")
    assert statement.status_code == 200 and statement.json()["results"][0]["balance"] == "20.00"
    schema = client.get("/api/schema/").content.decode()
    assert "/api/operator/reports/daily/" in schema and "/api/operator/reports/statements/{external_id}/" in schema


def test_a_key_without_the_reports_scope_is_refused(built):
    client = api_client(name="payments only", scopes=("read", "payments"))
    assert client.get("/api/operator/reports/daily/").status_code == 403
    assert client.get("/api/operator/reports/statements/carol/?currency=USD").status_code == 403


def test_igpx_open_liability_is_shown_as_not_available(built):
    """IGPX results name no bet, so which IGPX bets are open is unknown: the page, the CSV and
    the XLSX say so (and a total that includes IGPX too) rather than show 0."""
    client = login("Finance", "fin")
    query = QUERY + "&currency=EUR"
    html = client.get("/admin/reports/dailyrollup/" + query).content.decode()
    assert '<td class="num">not available</td>' in html and "IGPX: not available" in html
    rows = list(csv.reader(io.StringIO(client.get("/admin/reports/dailyrollup/export.csv" + query).content.decode())))
    liability = rows[0].index("Open liability**")
    body = [r for r in rows[1:] if len(r) > 1]
    assert [(r[1], r[liability]) for r in body] == [
        ("igpx", "not available"),
        ("igpx", "not available"),
        ("all", "not available"),
    ]
    assert any("IGPX: not available" in r[0] for r in rows if len(r) == 1)
    sheet = load_workbook(io.BytesIO(client.get("/admin/reports/dailyrollup/export.xlsx" + query).content)).active
    assert [sheet.cell(row=i, column=liability + 1).value for i in (2, 3, 4)] == ["not available"] * 3
    betsy = client.get("/admin/reports/dailyrollup/" + QUERY + "&provider=betsy").content.decode()
    assert "not available</td>" not in betsy and '<td class="num">45.00 USD</td>' in betsy
