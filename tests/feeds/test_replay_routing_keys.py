"""uof_replay of a directory applies what the wire delivered: the routing key in each file's
name gives the sport id and the priority; a file without one is replayed, and said so."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from feeds.models import FeedMessage, SportEvent
from feeds.protocol.routing import routing_key_in_name
from tests.feeds.helpers import alive, odds_change, rollback_settlement, settlement

pytestmark = pytest.mark.django_db

TENNIS = "hi.pre.-.odds_change.5.sr:match.43000001.-"
BASKETBALL_LIVE = "hi.-.live.odds_change.2.sr:match.43000002.-"
ICE_HOCKEY_SETTLEMENT = "lo.-.live.bet_settlement.4.sr:match.43000003.-"
ROLLBACK_HI = "hi.-.live.rollback_bet_settlement.4.sr:match.43000003.-"
SYSTEM = "-.-.-.alive.-.-.-.-"


def _write(directory, files: dict[str, str]) -> None:
    for name, body in files.items():
        (directory / name).write_text(body)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        (f"{TENNIS}.xml", TENNIS),
        (f"0007_{ROLLBACK_HI}.xml", ROLLBACK_HI),
        ("0001_hi.pre.-.odds_change.1.sr%3Amatch.9.-.xml", "hi.pre.-.odds_change.1.sr:match.9.-"),
        ("12_-.-.-.snapshot_complete.-.-.-.7.xml", "-.-.-.snapshot_complete.-.-.-.7"),
        ("odds_change_1.xml", None),
        ("0001_hi.pre.xml", None),
    ],
)
def test_routing_key_in_a_file_name(name, key):
    assert routing_key_in_name(name) == key


def test_replay_takes_sport_and_priority_from_the_file_names(tmp_path):
    _write(
        tmp_path,
        {
            f"0001_{SYSTEM}.xml": alive(product=3),
            f"0002_{TENNIS}.xml": odds_change(event="sr:match:43000001", product=3, markets=[(1, "", 1, {"1": "1.5"})]),
            f"0003_{BASKETBALL_LIVE}.xml": odds_change(
                event="sr:match:43000002", markets=[(219, "", 1, {"4": "1.9", "5": "1.9"})]
            ),
            f"0004_{ICE_HOCKEY_SETTLEMENT}.xml": settlement(event="sr:match:43000003", markets=[(1, "", {"1": 1})]),
            f"0005_{ROLLBACK_HI}.xml": rollback_settlement(event="sr:match:43000003", markets=[(1, "")]),
        },
    )
    out, err = StringIO(), StringIO()
    call_command("uof_replay", str(tmp_path), stdout=out, stderr=err)
    assert "replaying 5 message(s)" in out.getvalue() and err.getvalue() == ""
    journal = list(FeedMessage.objects.order_by("id").values_list("routing_key", "kind", "outcome", "source"))
    assert journal == [
        (SYSTEM, "alive", "applied", "file"),
        (TENNIS, "odds_change", "applied", "file"),
        (BASKETBALL_LIVE, "odds_change", "applied", "file"),
        (ICE_HOCKEY_SETTLEMENT, "bet_settlement", "applied", "file"),
        (ROLLBACK_HI, "rollback_bet_settlement", "applied", "file"),
    ]
    sports = dict(SportEvent.objects.values_list("urn", "sport_id"))
    assert sports == {"sr:match:43000001": 5, "sr:match:43000002": 2, "sr:match:43000003": 4}


def test_replay_says_which_files_have_no_key(tmp_path):
    _write(
        tmp_path,
        {
            f"0001_{TENNIS}.xml": odds_change(event="sr:match:43000001", markets=[(1, "", 1, {"1": "1.5"})]),
            "0002_odds.xml": odds_change(event="sr:match:43000009", ts=2000, markets=[(1, "", 1, {"1": "1.6"})]),
        },
    )
    out, err = StringIO(), StringIO()
    call_command("uof_replay", str(tmp_path), stdout=out, stderr=err)
    assert "1 of 2 file(s) have no routing key in their name (0002_odds.xml)" in err.getvalue()
    assert "without a sport id" in err.getvalue()
    built = FeedMessage.objects.get(event_urn="sr:match:43000009")
    assert built.routing_key == "hi.-.live.odds_change.-.sr:match.43000009.-"
    assert SportEvent.objects.get(urn="sr:match:43000009").sport_id is None
    with pytest.raises(CommandError, match="--require-keys"):
        call_command("uof_replay", str(tmp_path), require_keys=True, stdout=StringIO(), stderr=StringIO())
