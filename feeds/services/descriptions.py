"""Market descriptions: cached in the database, fetched lazily, used for names and bet_stop groups.

The feed never waits for descriptions: a market id missing from the cache (1343–1346 in
odds_change_3.xml) is stored and priced like any other, shows as "market 1343" until the
description arrives, and a bet_stop by group stops it (unknown groups: stop, the safe side).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from feeds import conf
from feeds.models import CodeDescription, Market, MarketDescription, VariantDescription
from feeds.protocol import rest
from feeds.protocol.client import UofClient
from feeds.protocol.errors import UofApiError, UofNotFound
from feeds.protocol.names import render_name
from feeds.protocol.specifiers import parse_specifiers

logger = logging.getLogger("touchline.feeds.descriptions")

_GROUPS_TTL_SECONDS = 60.0
_groups_lock = threading.Lock()
_groups: dict[int, frozenset[str]] = {}
_groups_loaded_at = 0.0


def market_groups(market_id: int) -> frozenset[str] | None:
    """The description groups of a market id, or None when its description is unknown."""
    global _groups, _groups_loaded_at
    if time.monotonic() - _groups_loaded_at > _GROUPS_TTL_SECONDS:
        with _groups_lock:
            if time.monotonic() - _groups_loaded_at > _GROUPS_TTL_SECONDS:
                rows = MarketDescription.objects.filter(variant="", lang=conf.LANG).values_list("market_id", "groups")
                _groups = {mid: frozenset(g for g in groups.split("|") if g) for mid, groups in rows}
                _groups_loaded_at = time.monotonic()
    return _groups.get(market_id)


def invalidate_cache() -> None:
    global _groups_loaded_at
    _groups_loaded_at = 0.0


@transaction.atomic
def descriptions_store(
    markets: Iterable[rest.MarketDescription],
    variants: Iterable[rest.VariantDescription] = (),
    *,
    lang: str | None = None,
) -> int:
    """Upsert market and variant descriptions; returns how many markets were stored."""
    lang = lang or conf.LANG
    now = timezone.now()
    objs = [
        MarketDescription(
            market_id=d.id,
            variant=d.variant,
            lang=lang,
            name=d.name[:300],
            groups="|".join(d.groups)[:255],
            outcomes=[[o.id, o.name] for o in d.outcomes],
            specifiers=[list(s) for s in d.specifiers],
            outcome_type=d.outcome_type[:32],
            includes_outcomes_of_type=d.includes_outcomes_of_type[:32],
            fetched_at=now,
        )
        for d in markets
    ]
    MarketDescription.objects.bulk_create(
        objs,
        update_conflicts=True,
        unique_fields=["market_id", "variant", "lang"],
        update_fields=[
            "name",
            "groups",
            "outcomes",
            "specifiers",
            "outcome_type",
            "includes_outcomes_of_type",
            "fetched_at",
        ],
    )
    VariantDescription.objects.bulk_create(
        [
            VariantDescription(variant=v.id, lang=lang, outcomes=[[o.id, o.name] for o in v.outcomes], fetched_at=now)
            for v in variants
        ],
        update_conflicts=True,
        unique_fields=["variant", "lang"],
        update_fields=["outcomes", "fetched_at"],
    )
    transaction.on_commit(invalidate_cache)
    return len(objs)


def descriptions_refresh(client: UofClient, *, force: bool = False) -> int:
    """Fetch all market and variant descriptions when missing or older than the max age."""
    newest = (
        MarketDescription.objects.filter(lang=conf.LANG)
        .order_by("-fetched_at")
        .values_list("fetched_at", flat=True)
        .first()
    )
    if not force and newest and (timezone.now() - newest).total_seconds() < conf.DESCRIPTIONS_MAX_AGE_HOURS * 3600:
        return 0
    markets = client.market_descriptions()  # network: outside any transaction
    variants = client.variant_descriptions()
    return descriptions_store(markets, variants)


def descriptions_fetch_missing(client: UofClient, *, limit: int = 50) -> int:
    """Fetch descriptions of outright variants (pre:/lcoo: markettext) seen on the feed but not cached."""
    known = set(MarketDescription.objects.filter(lang=conf.LANG).values_list("market_id", "variant"))
    known_variants = set(VariantDescription.objects.filter(lang=conf.LANG).values_list("variant", flat=True))
    wanted: set[tuple[int, str]] = set()
    for market_id, specifiers in (
        Market.objects.filter(specifiers__contains="variant=").values_list("market_id", "specifiers").distinct()[:5000]
    ):
        variant = parse_specifiers(specifiers).get("variant", "")
        if (
            variant.startswith(("pre:", "lcoo:"))
            and (market_id, variant) not in known
            and variant not in known_variants
        ):
            wanted.add((market_id, variant))
    fetched = 0
    for market_id, variant in sorted(wanted)[:limit]:
        try:
            found = client.variant_market(market_id, variant)
        except UofNotFound:
            continue
        except UofApiError as exc:
            logger.warning("variant %s/%s: %s", market_id, variant, exc)
            break
        fetched += descriptions_store(found)
    return fetched


# --- names -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameContext:
    competitor1: str | None = None
    competitor2: str | None = None
    event_name: str | None = None


class NameResolver:
    """Market and outcome names for lines of one or more events, from the cached descriptions."""

    def __init__(self, market_ids: Iterable[int], *, lang: str | None = None) -> None:
        lang = lang or conf.LANG
        ids = set(market_ids)
        self._markets: dict[tuple[int, str], MarketDescription] = {
            (d.market_id, d.variant): d for d in MarketDescription.objects.filter(market_id__in=ids, lang=lang)
        }
        self._variants: dict[str, dict[str, str]] | None = None
        self._lang = lang

    def _variant_outcomes(self, variant: str) -> dict[str, str]:
        if self._variants is None:
            self._variants = {}
        if variant not in self._variants:
            row = VariantDescription.objects.filter(variant=variant, lang=self._lang).first()
            self._variants[variant] = {oid: name for oid, name in (row.outcomes if row else [])}
        return self._variants[variant]

    def market_name(self, market_id: int, specifiers: str, ctx: NameContext = NameContext()) -> str:
        specs = parse_specifiers(specifiers)
        desc = self._markets.get((market_id, specs.get("variant", ""))) or self._markets.get((market_id, ""))
        if desc is None:
            return f"market {market_id}" + (f" ({specifiers})" if specifiers else "")
        return render_name(
            desc.name, specs, competitor1=ctx.competitor1, competitor2=ctx.competitor2, event_name=ctx.event_name
        )

    def outcome_name(self, market_id: int, specifiers: str, outcome_id: str, ctx: NameContext = NameContext()) -> str:
        specs = parse_specifiers(specifiers)
        variant = specs.get("variant", "")
        template = None
        for key in ((market_id, variant), (market_id, "")):
            desc = self._markets.get(key)
            if desc is not None:
                template = dict((oid, name) for oid, name in desc.outcomes).get(outcome_id)
                if template is not None:
                    break
        if template is None and variant:
            template = self._variant_outcomes(variant).get(outcome_id)
        if template is None:
            return outcome_id  # e.g. sr:player:1234 before profiles are fetched
        return render_name(
            template, specs, competitor1=ctx.competitor1, competitor2=ctx.competitor2, event_name=ctx.event_name
        )


# --- code lists ----------------------------------------------------------------------------------

# kind -> path under descriptions/ ('{lang}' filled in): the names the read API shows for codes.
CODE_LISTS = {
    "match_status": "{lang}/match_status",
    "betting_status": "betting_status",
    "betstop_reasons": "betstop_reasons",
    "void_reasons": "void_reasons",
}


@transaction.atomic
def codes_store(kind: str, codes: dict[int, str], *, lang: str | None = None) -> int:
    """Upsert one code list (ids -> descriptions)."""
    lang = lang or conf.LANG
    now = timezone.now()
    CodeDescription.objects.bulk_create(
        [
            CodeDescription(kind=kind, code=code, lang=lang, description=text[:300], fetched_at=now)
            for code, text in codes.items()
        ],
        update_conflicts=True,
        unique_fields=["kind", "code", "lang"],
        update_fields=["description", "fetched_at"],
    )
    return len(codes)


def codes_refresh(client: UofClient) -> int:
    """Fetch every code list (network first, one short transaction per list)."""
    stored = 0
    for kind, path in CODE_LISTS.items():
        try:
            codes = client.code_list(path.format(lang=conf.LANG))
        except UofApiError as exc:
            logger.warning("code list %s: %s", kind, exc)
            continue
        stored += codes_store(kind, codes)
    return stored


def code_names(kind: str) -> dict[int, str]:
    return dict(CodeDescription.objects.filter(kind=kind, lang=conf.LANG).values_list("code", "description"))
