"""``{% load money %}`` then ``{{ amount|money:currency }}``: the one way templates show money."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html

from wallet.money import format_money

register = template.Library()


@register.filter(name="money")
def money_filter(amount: Decimal | None, currency: str | None) -> str:
    return format_money(amount, currency)


@register.filter(name="money_html")
def money_html(amount: Decimal | None, currency: str | None) -> str:
    """Right-aligned, negative amounts marked with the ``money-neg`` class (red in the admin CSS)."""
    return money_span(amount, currency)


def money_span(amount: Decimal | None, currency: str | None, *, signed: bool = False) -> str:
    """For admin list columns: ``format_html`` output a ModelAdmin method can return as is."""
    text = format_money(amount, currency, signed=signed)
    negative = amount is not None and Decimal(str(amount)) < 0
    return format_html('<span class="money{}">{}</span>', " money-neg" if negative else "", text)
