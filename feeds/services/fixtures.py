"""Fixture data (sport, tournament, competitors, start time) from the REST API.

Events are created by the feed with `fixture_needed`; a fixture_change sets it again and the
fixture is then read from the uncached fixture_change_fixture.xml endpoint.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from feeds import conf
from feeds.models import SportEvent
from feeds.protocol import rest
from feeds.protocol.client import UofClient
from feeds.protocol.errors import UofApiError, UofNotFound

logger = logging.getLogger("touchline.feeds.fixtures")


_UNSET = object()


def fixture_store(fixture: rest.Fixture, *, expected_change_ts: object = _UNSET) -> SportEvent:
    """Store a fixture. With expected_change_ts, a fixture_change that arrived while we were
    fetching keeps `fixture_needed` set, so the newer fixture is fetched on the next run."""
    home = next((c for c in fixture.competitors if c.qualifier == "home"), None)
    away = next((c for c in fixture.competitors if c.qualifier == "away"), None)
    if home is None and len(fixture.competitors) == 2:
        home, away = fixture.competitors
    name = f"{home.name} vs. {away.name}" if home and away else ""
    values = {
        "sport_name": fixture.sport_name[:64],
        "category_name": fixture.category_name[:128],
        "tournament_urn": fixture.tournament_urn[:64],
        "tournament_name": fixture.tournament_name[:200],
        "season_urn": fixture.season_urn[:64],
        "season_name": fixture.season_name[:200],
        "name": name[:300],
        "competitors": [
            {"id": c.id, "name": c.name, "qualifier": c.qualifier, "abbreviation": c.abbreviation}
            for c in fixture.competitors
        ],
        "scheduled": fixture.start_time or fixture.scheduled,
        "start_time_tbd": fixture.start_time_tbd,
        "fixture_status": fixture.status[:32],
        "fixture_needed": False,
        "fixture_fetched_at": timezone.now(),
        "fixture_error": "",
    }
    if fixture.sport_id is not None:
        values["sport_id"] = fixture.sport_id
    with transaction.atomic():
        current = SportEvent.objects.select_for_update().filter(urn=fixture.urn).first()
        if current is not None and expected_change_ts is not _UNSET and current.fixture_change_ts != expected_change_ts:
            values.pop("fixture_needed")
        event, _ = SportEvent.objects.update_or_create(urn=fixture.urn, defaults=values)
    return event


def fixtures_fetch(client: UofClient, *, limit: int | None = None) -> int:
    """Fetch fixtures for events that need one; returns how many were stored."""
    limit = limit or conf.FIXTURE_FETCH_BATCH
    pending = list(
        SportEvent.objects.filter(fixture_needed=True).order_by("id").values_list("urn", "fixture_change_ts")[:limit]
    )
    stored = 0
    for urn, change_ts in pending:
        try:
            fixture = client.fixture(urn, uncached=change_ts is not None)
        except UofNotFound as exc:
            SportEvent.objects.filter(urn=urn).update(fixture_needed=False, fixture_error=str(exc)[:300])
            continue
        except UofApiError as exc:
            logger.warning("fixture %s: %s", urn, exc)
            SportEvent.objects.filter(urn=urn).update(fixture_error=str(exc)[:300])
            break  # the API is unhappy: try again on the next run
        if fixture.urn != urn:
            logger.warning("fixture for %s came back as %s", urn, fixture.urn)
            SportEvent.objects.filter(urn=urn).update(fixture_needed=False, fixture_error=f"answered {fixture.urn}")
            continue
        fixture_store(fixture, expected_change_ts=change_ts)
        stored += 1
    return stored
