"""Line mapping: templates, seeding from ProphetX's MM API, supported-lines sync."""

from decimal import Decimal

import pytest

from parlays.conf import ParlaySettings
from parlays.models import LineMapping, PxEvent, PxLine
from parlays.prices import canonical_specifiers
from parlays.protocol.rest import ProphetXClient
from parlays.services.lines import derive_mapping, seed_reference_data, sync_supported_lines
from parlays.simulator import ProphetXSimulator, make_games
from tests.parlays.conftest import feed_game


@pytest.mark.parametrize(
    ("market", "outcome", "line", "expected"),
    [
        (219, 4, None, (219, "", "4", "winner_home")),
        (1, 2, None, (1, "", "2", "winner_away")),
        (225, 13, Decimal("227"), (225, "total=227", "13", "total_under")),  # the docs' sample leg
        (412, 13, Decimal("5.5"), (412, "total=5.5", "13", "total_under")),
        (256, 1715, Decimal("1.5"), (256, "hcp=-1.5", "1715", "hcp_away")),  # away +1.5 = home -1.5
        (256, 1714, Decimal("-1.5"), (256, "hcp=-1.5", "1714", "hcp_home")),
        (1303, 5, None, None),  # unknown market: staff map it
        (225, 12, None, None),  # a total needs its line
        (219, 4, Decimal("2.5"), None),
    ],
)
def test_market_templates(market, outcome, line, expected):
    assert derive_mapping(market, outcome, line) == expected


def test_canonical_specifiers():
    assert canonical_specifiers("total=2.5|hcp=1") == "hcp=1|total=2.5"
    assert canonical_specifiers("") == ""


@pytest.mark.django_db
def test_seeding_maps_the_lines_of_mapped_events():
    games = make_games(3)
    with ProphetXSimulator(games=games, health_interval_s=60) as sim:
        client = ProphetXClient(sim.rest_url, sim.access_key, sim.secret_key)
        PxEvent.objects.create(sport_event_id=games[0].px_event_id, event_urn=games[0].event_urn)
        counts = seed_reference_data(client, ParlaySettings())
        assert counts == {"events": 3, "lines": 18, "events_matched": 0, "mapped": 6}
        assert PxLine.objects.count() == 18
        mapped = {m.line_id: m for m in LineMapping.objects.all()}
        for market in games[0].markets:
            for outcome in market.outcomes:
                assert mapped[outcome.line_id].specifiers == market.specifiers  # the sim's UOF market
        # Nothing is registered before the feed offers the outcomes.
        assert sync_supported_lines(client) == {"added": 0, "removed": 0, "desired": 0}
        # The feed offers every mapped outcome but one (a template can name an outcome Betradar
        # does not offer on that market): that line is not registered.
        missing = games[0].markets[0].outcomes[-1]
        feed_game(games[0], skip={missing.line_id})
        # Registering: exactly the mapped lines the feed offers, by diff.
        assert sync_supported_lines(client) == {"added": 5, "removed": 0, "desired": 5}
        assert sim.supported_lines == set(mapped) - {missing.line_id}
        LineMapping.objects.filter(line_id=next(iter(sim.supported_lines))).update(enabled=False)
        assert sync_supported_lines(client) == {"added": 0, "removed": 1, "desired": 4}
        assert sync_supported_lines(client, full=True) == {"added": 0, "removed": 0, "desired": 4}
