"""Reports settings, read once from the environment (README's configuration table)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def timezone() -> ZoneInfo:
    """The operator's business-day zone (REPORT_TIMEZONE, default UTC)."""
    name = getattr(settings, "REPORT_TIMEZONE", "UTC") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ImproperlyConfigured(f"REPORT_TIMEZONE {name!r} is not an IANA time zone (e.g. Europe/Malta)") from exc


def reporting_currency() -> str:
    return (getattr(settings, "REPORT_CURRENCY", "") or "").upper()


def exchange_rates() -> dict[str, Decimal]:
    """REPORT_EXCHANGE_RATES: "USD=0.92,GBP=1.17" = one unit of USD is 0.92 of REPORT_CURRENCY.

    Only currencies listed here are converted; the others are shown in their own currency only."""
    raw = getattr(settings, "REPORT_EXCHANGE_RATES", "") or ""
    items = raw if isinstance(raw, (list, tuple)) else [p for p in str(raw).split(",") if p.strip()]
    rates: dict[str, Decimal] = {}
    for item in items:
        code, sep, value = str(item).partition("=")
        try:
            rate = Decimal(value.strip())
        except InvalidOperation:
            rate = Decimal(0)
        if not sep or not code.strip() or not rate.is_finite() or rate <= 0:
            raise ImproperlyConfigured(f"REPORT_EXCHANGE_RATES item {item!r} is invalid: expected CODE=positive rate")
        rates[code.strip().upper()] = rate
    if reporting_currency():
        rates.setdefault(reporting_currency(), Decimal(1))
    return rates


def reconciliation_columns() -> dict:
    """REPORT_RECONCILIATION_COLUMNS: per provider, column names and type words (JSON or a dict)."""
    raw = getattr(settings, "REPORT_RECONCILIATION_COLUMNS", "") or {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"REPORT_RECONCILIATION_COLUMNS is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured('REPORT_RECONCILIATION_COLUMNS must be a JSON object: {"igpx": {"columns": …}}')
    return value


# A day is closed (its rollup final) this long after its end: callbacks in flight at midnight
# have committed by then. Before that the beat job recomputes it.
CLOSE_AFTER_MINUTES = 30
