"""The back office's id search: what a support agent pastes (a player's id, a bet's, an
activity id) found exactly and through indexes, on tables that grow without bound.

Django's admin search ORs `iexact` / `icontains` lookups across joins. PostgreSQL serves
neither from a plain index (`iexact` compares UPPER() of the column), and an OR that spans
joined tables cannot combine indexes either, so on a ledger or an outbox every search read the
whole table. Here each related path is resolved to the ids of the rows that match, one
indexed query per step, and the search itself is an OR of indexed equalities on the searched
table's own columns (PostgreSQL combines them with a BitmapOr).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet

# An id names a handful of rows (a player has an account per currency). A step that matches more
# than this was not given an id: the search keeps the first MAX_IDS rather than send an
# unbounded IN list.
MAX_IDS = 1000


def exact_id_search(rows: QuerySet, term: str, paths: Iterable[str]) -> QuerySet:
    """`rows` whose `path` equals `term` for any of `paths` (Django lookups such as
    "external_id" or "account__player__external_id"), compared exactly as written."""
    term = term.strip()
    if not term:
        return rows
    found = Q(pk__in=[])
    for path in paths:
        found |= _match(rows.model, path.split("__"), term)
    return rows.filter(found)


def _match(model: type[Model], parts: list[str], term: Any) -> Q:
    if len(parts) == 1:
        field = model._meta.get_field(parts[0])
        try:
            value = field.to_python(term)
        except ValidationError:  # a word in an integer field: it matches nothing there
            return Q(pk__in=[])
        return Q(**{parts[0]: value})
    relation = model._meta.get_field(parts[0])
    if not (relation.many_to_one or relation.one_to_one) or not relation.concrete:
        raise ValueError(f"{model.__name__}.{parts[0]}: an id search follows foreign keys only")
    target = relation.related_model
    ids = list(target._default_manager.filter(_match(target, parts[1:], term)).values_list("pk", flat=True)[:MAX_IDS])
    return Q(**{f"{relation.attname}__in": ids})


class ExactIdSearch:
    """Admin mixin: set `exact_search` to the paths the box searches (see `exact_id_search`)."""

    exact_search: tuple[str, ...] = ()
    search_help_text = "An id, exactly as written."

    def get_search_fields(self, request: Any) -> tuple[str, ...]:
        return self.exact_search  # shows the box; get_search_results does the search

    def get_search_results(self, request: Any, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        return exact_id_search(queryset, search_term, self.exact_search), False
