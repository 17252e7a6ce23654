"""Line mapping (ProphetX lines ↔ UOF outcomes), reference-data seeding and supported lines.

Mapping, in order:
1. a `LineMapping` row (staff-edited or created automatically earlier);
2. automatic: the leg's ProphetX event is mapped to a UOF event (`PxEvent.event_urn`) and its
   market is one of `MARKET_TEMPLATES`. ProphetX market and outcome ids follow Betradar's
   numbering in every sample we have (256/1715 "handicap, away", 225/13 "total, under"), so a
   template turns (market, outcome, line) into (market_id, specifiers, outcome_id) [decision:
   confirm with ProphetX at onboarding; a wrong template is fixed by editing the row];
3. otherwise the leg is unmapped and the parlay is not quoted.

The quote hot path reads an in-memory `LineIndex`, refreshed from the database every few
seconds; automatic mappings it derives are written after the offer is sent.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from parlays.conf import ParlaySettings
from parlays.models import CorrelationRule, LineMapping, PxEvent, PxLine
from parlays.prices import canonical_specifiers
from parlays.pricing import CorrelationRule as Rule
from parlays.pricing import LegSpec, correlation_key
from parlays.protocol.errors import ProphetXAPIError
from parlays.protocol.messages import MarketLine

logger = logging.getLogger("touchline.parlays.lines")


@dataclass(frozen=True, slots=True)
class MarketTemplate:
    kind: str  # winner | total | handicap
    specifier: str = ""  # "total" / "hcp"


# UOF market ids (ProphetX reuses them). Outcomes: winner 1/2/3 or 4/5 (home/away), total 12/13
# (over/under), handicap 1714/1715 or 1/2 (home/away, hcp given from the home side).
MARKET_TEMPLATES: dict[int, MarketTemplate] = {
    **{m: MarketTemplate("winner") for m in (1, 10, 11, 29, 186, 219, 251, 340, 406)},
    **{m: MarketTemplate("total", "total") for m in (18, 68, 90, 225, 238, 258, 412)},
    **{m: MarketTemplate("handicap", "hcp") for m in (16, 66, 88, 223, 256, 410)},
}
HOME_OUTCOMES = {1, 4, 1714}
AWAY_OUTCOMES = {2, 5, 1715}
OVER, UNDER = 12, 13


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def derive_mapping(px_market_id: int, px_outcome_id: int, line: Decimal | None) -> tuple[int, str, str, str] | None:
    """(market_id, specifiers, outcome_id, correlation_class) for a templated market, else None."""
    template = MARKET_TEMPLATES.get(px_market_id)
    if template is None:
        return None
    if template.kind == "winner":
        if line not in (None, Decimal(0)):
            return None
        side = "home" if px_outcome_id in HOME_OUTCOMES else "away" if px_outcome_id in AWAY_OUTCOMES else "draw"
        return px_market_id, "", str(px_outcome_id), f"winner_{side}"
    if line is None:
        return None
    if template.kind == "total":
        if px_outcome_id not in (OVER, UNDER):
            return None
        side = "over" if px_outcome_id == OVER else "under"
        return px_market_id, f"total={_number(line)}", str(px_outcome_id), f"total_{side}"
    if px_outcome_id in HOME_OUTCOMES:
        hcp, side = line, "home"
    elif px_outcome_id in AWAY_OUTCOMES:
        hcp, side = -line, "away"  # PX quotes the selected side's line; UOF's hcp is the home side's
    else:
        return None
    return px_market_id, f"hcp={_number(hcp)}", str(px_outcome_id), f"hcp_{side}"


class LineIndex:
    """In-memory view of mappings, event mappings and correlation rules for the hot path."""

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._lines: dict[str, LegSpec] = {}
        self._events: dict[int, str] = {}
        self._correlations: dict[tuple[str, str], Rule] = {}
        self._disabled: set[str] = set()
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[MarketLine, LegSpec]] = {}
        self._pending_lock = threading.Lock()

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    def refresh(self) -> None:
        # Plain reads, no transaction: on SQLite (IMMEDIATE mode) even a read-only atomic block
        # would take the write lock. A mapping changing between the queries is harmless.
        lines = {
            row[0]: LegSpec(row[0], row[1], row[2], canonical_specifiers(row[3]), row[4], row[5])
            for row in LineMapping.objects.filter(enabled=True).values_list(
                "line_id", "event_urn", "market_id", "specifiers", "outcome_id", "correlation_class"
            )
        }
        events = dict(PxEvent.objects.exclude(event_urn="").values_list("sport_event_id", "event_urn"))
        disabled = set(LineMapping.objects.filter(enabled=False).values_list("line_id", flat=True))
        correlations = {
            correlation_key(a, b): Rule(factor=factor, blocked=blocked)
            for a, b, factor, blocked in CorrelationRule.objects.values_list("class_a", "class_b", "factor", "blocked")
        }
        self._lines, self._events, self._correlations = lines, events, correlations
        self._disabled = disabled
        self._loaded_at = time.monotonic()

    def _fresh(self) -> None:
        # The listener refreshes in the background; the hot path only does it when that stalled.
        if time.monotonic() - self._loaded_at > self.ttl:
            with self._lock:
                if time.monotonic() - self._loaded_at > self.ttl:
                    self.refresh()

    @property
    def correlations(self) -> Mapping[tuple[str, str], Rule]:
        self._fresh()
        return self._correlations

    def resolve(self, market_lines: Sequence[MarketLine]) -> list[LegSpec | None]:
        self._fresh()
        result: list[LegSpec | None] = []
        for line in market_lines:
            spec = self._lines.get(line.line_id)
            if spec is None and line.line_id not in self._disabled:
                spec = self._derive(line)
            result.append(spec)
        return result

    def _derive(self, line: MarketLine) -> LegSpec | None:
        urn = self._events.get(line.sport_event_id)
        if not urn:
            return None
        derived = derive_mapping(line.market_id, line.outcome_id, line.line)
        if derived is None:
            return None
        market_id, specifiers, outcome_id, klass = derived
        spec = LegSpec(line.line_id, urn, market_id, specifiers, outcome_id, klass)
        with self._pending_lock:
            self._pending[line.line_id] = (line, spec)
        self._lines[line.line_id] = spec
        return spec

    def flush_pending(self) -> int:
        """Store the automatic mappings derived on the hot path (after the offer went out)."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        rows = [
            LineMapping(
                line_id=line_id,
                px_sport_event_id=line.sport_event_id,
                px_market_id=line.market_id,
                px_outcome_id=line.outcome_id,
                px_line=line.line,
                event_urn=spec.event_urn,
                market_id=spec.market_id,
                specifiers=spec.specifiers,
                outcome_id=spec.outcome_id,
                correlation_class=spec.correlation_class,
                source=LineMapping.Source.AUTO,
            )
            for line_id, (line, spec) in pending.items()
        ]
        LineMapping.objects.bulk_create(rows, ignore_conflicts=True)
        return len(rows)


# --- seeding from the MM API ------------------------------------------------------------------


def _parse_scheduled(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        number = float(value)
        for scale in (1e9, 1e3, 1):
            if number / scale < 4.2e9:
                return datetime.fromtimestamp(number / scale, tz=UTC)
    return None


def _selections(market: Mapping[str, Any]) -> Iterable[tuple[Mapping[str, Any], Any]]:
    """(selection, line) pairs from `selections` (list of lists) or `market_lines[].selections`."""

    def flatten(groups: Any) -> Iterable[Mapping[str, Any]]:
        for group in groups or []:
            if isinstance(group, Mapping):
                yield group
            elif isinstance(group, list):
                yield from (s for s in group if isinstance(s, Mapping))

    for selection in flatten(market.get("selections")):
        yield selection, selection.get("line")
    for market_line in market.get("market_lines") or []:
        if isinstance(market_line, Mapping):
            for selection in flatten(market_line.get("selections")):
                yield selection, selection.get("line", market_line.get("line"))


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() and abs(number) < 100000 else None


def seed_reference_data(client: Any, settings: ParlaySettings) -> dict[str, int]:
    """Tournaments → events → markets from ProphetX into PxEvent/PxLine, then automatic mappings.
    Network first, then one short transaction per batch of events."""
    tournaments = client.get_tournaments()
    wanted = {t.lower() for t in settings.tournaments}
    events: list[dict] = []
    for tournament in tournaments:
        name = str(tournament.get("name", ""))
        if wanted and name.lower() not in wanted and str(tournament.get("id")) not in wanted:
            continue
        try:
            for event in client.get_sport_events(tournament.get("id")):
                event.setdefault("tournament_id", tournament.get("id"))
                event.setdefault("tournament_name", name)
                events.append(event)
        except ProphetXAPIError as exc:
            logger.warning("skipping tournament %s: %s", name, exc)
    ids = [int(e["event_id"]) for e in events if str(e.get("event_id", "")).isdigit()]
    markets = client.get_multiple_markets(ids) if ids else {}
    counts = {"events": 0, "lines": 0, "mapped": 0}
    with transaction.atomic():
        for event in events:
            if not str(event.get("event_id", "")).isdigit():
                continue
            event_id = int(event["event_id"])
            sport_field = event.get("sport")
            sport = event.get("sport_name") or (sport_field.get("name", "") if isinstance(sport_field, Mapping) else "")
            PxEvent.objects.update_or_create(
                sport_event_id=event_id,
                defaults={
                    "name": str(event.get("name", ""))[:255],
                    "tournament_id": event.get("tournament_id")
                    if str(event.get("tournament_id", "")).isdigit()
                    else None,
                    "tournament_name": str(event.get("tournament_name", ""))[:255],
                    "sport_name": str(sport or "")[:100],
                    "scheduled": _parse_scheduled(event.get("scheduled")),
                    "competitors": event.get("competitors") if isinstance(event.get("competitors"), list) else [],
                    "status": str(event.get("status", ""))[:32],
                },
            )
            counts["events"] += 1
            for market in markets.get(event_id, []):
                market_id = market.get("id", market.get("market_id"))
                if not str(market_id).isdigit():
                    continue
                for selection, line in _selections(market):
                    line_id = selection.get("line_id")
                    outcome_id = selection.get("outcome_id")
                    if not isinstance(line_id, str) or not str(outcome_id).isdigit():
                        continue
                    PxLine.objects.update_or_create(
                        line_id=line_id,
                        defaults={
                            "sport_event_id": event_id,
                            "market_id": int(market_id),
                            "market_name": str(market.get("name", ""))[:255],
                            "market_type": str(market.get("type", ""))[:64],
                            "outcome_id": int(outcome_id),
                            "outcome_name": str(selection.get("name") or selection.get("display_name") or "")[:255],
                            "line": _decimal_or_none(line),
                            "competitor_id": selection.get("competitor_id")
                            if str(selection.get("competitor_id", "")).isdigit()
                            else None,
                        },
                    )
                    counts["lines"] += 1
    counts["events_matched"] = auto_match_events()
    counts["mapped"] = auto_map_lines()
    return counts


_NOISE = {"fc", "cf", "sc", "afc", "ac", "fk", "sk", "if", "bk", "cd", "ud", "the", "club", "de", "calcio"}


def _team_key(name: str) -> str:
    """'FC Bayern München' and 'Bayern Munchen' give the same key."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = [w for w in re.split(r"[^a-z0-9]+", folded) if w and w not in _NOISE]
    return " ".join(words)


def _competitor_keys(names: Iterable[Any], fallback: str) -> frozenset[str]:
    keys = []
    for item in names or []:
        name = item.get("name") or item.get("display_name") if isinstance(item, Mapping) else item
        if isinstance(name, str) and name.strip():
            keys.append(_team_key(name))
    if len(keys) < 2 and fallback:
        keys = [_team_key(part) for part in re.split(r"\s+(?:vs\.?|v|@|-)\s+", fallback, flags=re.I) if part.strip()]
    return frozenset(k for k in keys if k)


def auto_match_events(*, window_minutes: int = 30) -> int:
    """Link unmapped ProphetX events to the UOF event with the same competitors starting within
    the window. Only a unique match is taken; anything ambiguous is left to staff (admin)."""
    try:
        from feeds.models import SportEvent
    except ImportError:  # pragma: no cover - parlays without the feeds app
        return 0
    matched = 0
    window = timedelta(minutes=window_minutes)
    for px in PxEvent.objects.filter(event_urn="", scheduled__isnull=False):
        wanted = _competitor_keys(px.competitors, px.name)
        if len(wanted) < 2:
            continue
        candidates = [
            event.urn
            for event in SportEvent.objects.filter(scheduled__range=(px.scheduled - window, px.scheduled + window))
            if _competitor_keys(event.competitors, event.name) == wanted
        ]
        if len(candidates) == 1:
            PxEvent.objects.filter(pk=px.pk, event_urn="").update(event_urn=candidates[0])
            matched += 1
        elif len(candidates) > 1:
            logger.warning(
                "ProphetX event %s matches %d UOF events: map it in the admin", px.sport_event_id, len(candidates)
            )
    return matched


def auto_map_lines() -> int:
    """Create automatic mappings for seeded lines of mapped events with a known market template."""
    urns = dict(PxEvent.objects.exclude(event_urn="").values_list("sport_event_id", "event_urn"))
    existing = set(LineMapping.objects.values_list("line_id", flat=True))
    rows = []
    for line in PxLine.objects.filter(sport_event_id__in=list(urns)).exclude(line_id__in=existing).iterator():
        derived = derive_mapping(line.market_id, line.outcome_id, line.line)
        if derived is None:
            continue
        market_id, specifiers, outcome_id, klass = derived
        rows.append(
            LineMapping(
                line_id=line.line_id,
                px_sport_event_id=line.sport_event_id,
                px_market_id=line.market_id,
                px_outcome_id=line.outcome_id,
                px_line=line.line,
                event_urn=urns[line.sport_event_id],
                market_id=market_id,
                specifiers=specifiers,
                outcome_id=outcome_id,
                correlation_class=klass,
                source=LineMapping.Source.AUTO,
            )
        )
    LineMapping.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def offered_lines(mappings: Iterable[LineMapping]) -> set[str]:
    """Line ids of the mappings whose UOF outcome the feed offers (listed on its line, active
    or not). A template can map to an outcome Betradar does not offer on that market: such a
    line could never be quoted, so it is not registered until the feed lists the outcome."""
    rows = {(m.event_urn, m.market_id, m.specifiers, m.outcome_id): m.line_id for m in mappings if m.event_urn}
    if not rows:
        return set()
    if not apps.is_installed("feeds"):
        return set(rows.values())  # no feed to ask (parlays runs without it): every enabled line
    from feeds.selectors import offered_outcomes

    return {rows[key] for key in offered_outcomes(rows)}


def sync_supported_lines(client: Any, *, full: bool = False) -> dict[str, int]:
    """Register exactly the lines we can quote (enabled mappings whose outcome the feed offers),
    by diff, in batches of 1,000.

    `full` compares with ProphetX's own list (paged GET) instead of our `registered` flags.
    Network calls happen outside any transaction; flags are updated after each call succeeds.
    """
    desired = offered_lines(LineMapping.objects.filter(enabled=True))
    if full:
        registered = set(client.list_supported_lines())
    else:
        registered = set(LineMapping.objects.filter(registered=True).values_list("line_id", flat=True))
    to_add = sorted(desired - registered)
    to_remove = sorted(registered - desired)
    if to_add:
        client.add_supported_lines(to_add)
    if to_remove:
        client.remove_supported_lines(to_remove)
    with transaction.atomic():
        now = timezone.now()
        LineMapping.objects.filter(line_id__in=desired).exclude(registered=True).update(
            registered=True, registered_at=now
        )
        LineMapping.objects.filter(line_id__in=to_remove).update(registered=False)
    return {"added": len(to_add), "removed": len(to_remove), "desired": len(desired)}
