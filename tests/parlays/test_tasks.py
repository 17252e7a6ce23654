"""Celery tasks and beat entries: no-ops until ProphetX is configured, then seed and reconcile."""

import pytest

from parlays import tasks
from parlays.models import LineMapping, PxEvent
from parlays.simulator import ProphetXSimulator, make_games
from tests.parlays.conftest import feed_game

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_client():
    tasks._client = None
    yield
    if tasks._client is not None:
        tasks._client.close()
    tasks._client = None


def test_beat_entries_are_registered():
    from django.conf import settings

    entries = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"parlays.tasks.seed_reference_data", "parlays.tasks.reconcile_orders"} <= entries


def test_tasks_do_nothing_without_configuration(settings):
    settings.PROPHETX_API_URL = ""
    assert tasks.seed_reference_data() is None
    assert tasks.reconcile_orders() is None


def test_seed_and_reconcile_against_prophetx(settings):
    games = make_games(2)
    with ProphetXSimulator(games=games, health_interval_s=60) as sim:
        settings.PROPHETX_API_URL = sim.rest_url
        settings.PROPHETX_ACCESS_KEY = sim.access_key
        settings.PROPHETX_SECRET_KEY = sim.secret_key
        PxEvent.objects.create(sport_event_id=games[0].px_event_id, event_urn=games[0].event_urn)
        feed_game(games[0])
        counts = tasks.seed_reference_data()
        assert counts["events"] == 2 and counts["mapped"] == 6 and counts["added"] == 6
        assert LineMapping.objects.filter(registered=True).count() == 6 == len(sim.supported_lines)
        assert tasks.reconcile_orders()["px_orders"] == 0
        assert sim.logins == 1  # one session reused across tasks
