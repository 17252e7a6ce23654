"""Admin building blocks shared by every app: read-only bases for append-only records, money
columns through the one money formatter, links to an object's page, local times with the zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html

from wallet.templatetags.money import money_span


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledger entries, feed journals, book entries…: staff read them; corrections go through
    services that append compensating rows and an audit entry."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("__"):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


def money_column(
    field: str,
    *,
    currency: str | Callable[[Any], str | None] = "currency",
    description: str | None = None,
    signed: bool = False,
    sortable: bool = True,
) -> Callable[[Any, Any], str]:
    """A list/readonly column rendering ``field`` through the money formatter, with its currency.

    ``field`` and ``currency`` may follow relations (``bet__currency``); ``currency`` may also be
    a function of the row, for models that keep it elsewhere."""

    def column(model_admin: Any, obj: Any) -> str:
        code = currency(obj) if callable(currency) else _path(obj, currency)
        return money_span(_path(obj, field), code, signed=signed)

    return admin.display(
        description=description or field.split("__")[-1].replace("_", " "), ordering=field if sortable else None
    )(column)


def admin_link(obj: Any, text: Any = None) -> str:
    """A link to ``obj``'s admin page (plain text when it has none or is None)."""
    if obj is None:
        return "-"
    meta = obj._meta
    try:
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return str(text if text is not None else obj)
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


def local_time(value: datetime | None) -> str:
    """A timestamp as staff read it: local time (TIME_ZONE) with the zone's abbreviation."""
    if value is None:
        return "-"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
