"""List filters that do not scan big tables: the providers and currencies staff can pick from
come from the house accounts (a few rows), not from a DISTINCT over millions of bets."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from wallet.models import Account


class ProviderFilter(admin.SimpleListFilter):
    title = "provider"
    parameter_name = "provider"
    field = "provider"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        providers = Account.objects.filter(kind=Account.Kind.CLEARING).values_list("provider", flat=True).distinct()
        return [(p, p) for p in sorted(set(providers))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value is None else queryset.filter(**{self.field: value})


class CurrencyFilter(admin.SimpleListFilter):
    title = "currency"
    parameter_name = "currency"
    field = "currency"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        codes = Account.objects.filter(player__isnull=True).values_list("currency", flat=True).distinct()
        return [(c, c) for c in sorted(set(codes))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset if value is None else queryset.filter(**{self.field: value})


class AccountCurrencyFilter(CurrencyFilter):
    parameter_name = "account__currency"
    field = "account__currency"
