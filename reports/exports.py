"""Transport: CSV and XLSX renderings of exactly the table the report page shows."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.http import HttpResponse
from openpyxl import Workbook
from openpyxl.styles import Font

from reports.statement import Statement
from reports.tables import COLUMNS, COUNT_COLUMNS, NOT_AVAILABLE, NOTES, Report
from wallet.currencies import CURRENCIES
from wallet.money import format_money

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def report_filename(report: Report, ext: str) -> str:
    f = report.filter
    return f"touchline-report-{f.period}-{f.first.isoformat()}-{f.last.isoformat()}.{ext}"


def report_csv(report: Report) -> HttpResponse:
    """The page's cells as text: amounts as shown (precision, separators, currency code)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{report_filename(report, "csv")}"'
    writer = csv.writer(response)
    writer.writerow(report.header())
    writer.writerows(report.text_rows())
    if report.conversion_note:
        writer.writerow([report.conversion_note])
    for note in NOTES:
        writer.writerow([note])
    return response


def _number_format(currency: str) -> str:
    places = CURRENCIES.get(currency, 8)
    return ("#,##0" + ("." + "0" * places if places else "")) + f' "{currency}"'


def report_xlsx(report: Report) -> HttpResponse:
    """The page's rows as numbers, each amount cell formatted at its currency's precision with
    the code (so Finance can sum them), counts as integers, hold as a percentage."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Report"
    sheet.append(report.header())
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in report.all_lines():
        row = [line.label, line.provider, line.brand_text, line.currency]
        for name, _ in COLUMNS:
            value = line.cell_value(name)
            row.append(value if value is not None else (NOT_AVAILABLE if name == "open_liability" else "—"))
        sheet.append(row)
        excel_row = sheet.max_row
        if line.label.startswith("Total"):
            for cell in sheet[excel_row]:
                cell.font = Font(bold=True)
        for offset, (name, _) in enumerate(COLUMNS, start=5):
            cell = sheet.cell(row=excel_row, column=offset)
            if name in COUNT_COLUMNS:
                cell.number_format = "#,##0"
            elif name == "hold":
                if isinstance(cell.value, Decimal):
                    cell.value = cell.value / 100
                    cell.number_format = "0.00%"
            else:
                cell.number_format = _number_format(line.currency)
    for note in ([report.conversion_note] if report.conversion_note else []) + list(NOTES):
        sheet.append([note])
    for column, width in zip("ABCD", (18, 10, 12, 9), strict=False):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{report_filename(report, "xlsx")}"'
    return response


def statement_header() -> list[str]:
    return [
        "Posted at (UTC)",
        "Transaction",
        "Kind",
        "Provider",
        "Reference",
        "Bet",
        "Real",
        "Bonus",
        "Debt",
        "Amount",
        "Balance",
        "Reason",
    ]


def statement_rows(statement: Statement) -> list[list[str]]:
    cur = statement.currency
    return [
        [
            line.posted_at.isoformat() if hasattr(line.posted_at, "isoformat") else str(line.posted_at),
            str(line.transaction_id),
            line.kind,
            line.provider,
            line.reference,
            line.bet,
            format_money(line.real, cur),
            format_money(line.bonus, cur),
            format_money(line.debt, cur),
            format_money(line.amount, cur, signed=True),
            format_money(line.balance, cur),
            line.reason,
        ]
        for line in statement.lines
    ]


def statement_csv(statement: Statement) -> HttpResponse:
    s = statement
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"statement-{s.player.external_id}-{s.currency}-{s.first.isoformat()}-{s.last.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(
        ["Player", s.player.external_id, "Currency", s.currency, "From", s.first.isoformat(), "To", s.last.isoformat()]
    )
    writer.writerow(["Opening balance", format_money(s.opening, s.currency)])
    writer.writerow(statement_header())
    writer.writerows(statement_rows(s))
    writer.writerow(["Closing balance", format_money(s.closing, s.currency)])
    if s.truncated:
        writer.writerow(["Truncated: narrow the date range to see every line."])
    return response
