"""Date-range arguments shared by the reports commands."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from reports.rollups import business_day


def add_range_arguments(parser) -> None:
    parser.add_argument("--day", help="one business day, YYYY-MM-DD (default: yesterday in REPORT_TIMEZONE)")
    parser.add_argument("--from", dest="first", help="first business day, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", help="last business day, YYYY-MM-DD (default: today)")


def parse_range(options) -> tuple[date, date]:
    def parse(name: str, value: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise CommandError(f"--{name} {value!r} is not a date: use YYYY-MM-DD") from None

    today = business_day(timezone.now())
    if options.get("day"):
        day = parse("day", options["day"])
        return day, day
    if options.get("first"):
        first = parse("from", options["first"])
        last = parse("to", options["last"]) if options.get("last") else today
        if last < first:
            raise CommandError("--to is before --from")
        return first, last
    yesterday = today - timedelta(days=1)
    return yesterday, yesterday
