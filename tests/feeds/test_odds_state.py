"""Odds, market status and bet stops: upserts by line, partial updates, out-of-order and
duplicate delivery, hand-over between producers, bet stops by group."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feeds.models import FeedMessage, Market, SportEvent
from feeds.protocol.rest import MarketDescription as Desc
from feeds.services.descriptions import descriptions_store, invalidate_cache
from tests.feeds.helpers import apply, apply_each, bet_stop, odds_change, sample

pytestmark = pytest.mark.django_db

EVENT = "sr:match:1"
ONE_X_TWO = (1, "", 1, {"1": "2.10", "2": "3.40", "3": "3.60"})
TOTAL_25 = (18, "total=2.5", 1, {"12": "1.90", "13": "1.95"})


def line(market_id: int, specifiers: str = "", event: str = EVENT) -> Market:
    return Market.objects.get(event__urn=event, market_id=market_id, specifiers=specifiers)


def lines(event: str = EVENT) -> dict:
    return {
        (mk.market_id, mk.specifiers): (mk.status, mk.producer_id, mk.outcomes, mk.odds_ts, mk.last_ts)
        for mk in Market.objects.filter(event__urn=event)
    }


def odds(mk: Market) -> dict:
    return {oid: s["odds"] for oid, s in mk.outcomes.items() if s["active"]}


def test_odds_change_creates_lines_keyed_by_market_and_canonical_specifiers():
    (result,) = apply(odds_change(ts=1000, markets=[ONE_X_TWO, (18, "total=2.5|extra=1", 1, {"12": "1.5"})]))
    assert result.outcome == "applied"
    assert odds(line(1)) == {"1": "2.10", "2": "3.40", "3": "3.60"}
    assert line(18, "extra=1|total=2.5").status == 1
    mk = line(1)
    assert mk.producer_id == 1 and mk.odds_ts == 1000 and mk.last_ts == 1000
    assert mk.odds_updated_at == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    journal = FeedMessage.objects.get(pk=result.journal_id)
    assert (journal.kind, journal.product, journal.event_urn, journal.message_ts, journal.outcome) == (
        "odds_change",
        1,
        EVENT,
        1000,
        "applied",
    )


def test_a_message_listing_some_markets_leaves_the_others_alone():
    apply(odds_change(ts=1000, markets=[ONE_X_TWO, TOTAL_25]))
    apply(odds_change(ts=2000, markets=[(18, "total=2.5", 1, {"12": "1.80", "13": "2.05"})]))
    assert odds(line(1)) == {"1": "2.10", "2": "3.40", "3": "3.60"} and line(1).odds_ts == 1000
    assert odds(line(18, "total=2.5")) == {"12": "1.80", "13": "2.05"} and line(18, "total=2.5").odds_ts == 2000


def test_older_message_is_ignored_and_journalled_as_stale():
    newer = odds_change(ts=2000, markets=[(1, "", 1, {"1": "1.50", "2": "4.00", "3": "6.00"})])
    older = odds_change(ts=1000, markets=[ONE_X_TWO])
    first, second = apply_each(newer, older)
    assert (first.outcome, second.outcome) == ("applied", "stale")
    assert odds(line(1)) == {"1": "1.50", "2": "4.00", "3": "6.00"}
    assert FeedMessage.objects.get(pk=second.journal_id).reason == "1 changes: 1 stale"


def test_out_of_order_inside_one_batch_is_ignored_too():
    newer = odds_change(ts=2000, markets=[(1, "", 1, {"1": "1.50", "2": "4.00", "3": "6.00"})])
    older = odds_change(ts=1000, markets=[ONE_X_TWO])
    assert [r.outcome for r in apply(newer, older)] == ["applied", "stale"]
    assert odds(line(1))["1"] == "1.50"


def test_redelivery_is_a_no_op():
    message = odds_change(ts=1000, markets=[ONE_X_TWO, TOTAL_25])
    apply(message)
    before = lines()
    updated = line(1).updated_at
    (again,) = apply(message)
    assert again.outcome == "duplicate"
    assert lines() == before and line(1).updated_at == updated
    assert FeedMessage.objects.count() == 2  # both deliveries are in the journal


def test_redelivery_with_match_status_is_a_no_op_in_a_later_batch():
    # The event row (status data as JSON, kick-off time) is read back in the later batch.
    message = odds_change(ts=1000, markets=[ONE_X_TWO], status=(1, 6, 1, 0))
    apply(message)
    SportEvent.objects.filter(urn="sr:match:1").update(scheduled=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    event = SportEvent.objects.get(urn="sr:match:1")
    (again,) = apply(message)
    assert again.outcome == "duplicate"
    after = SportEvent.objects.get(urn="sr:match:1")
    assert (after.status_data, after.scheduled, after.updated_at) == (
        event.status_data,
        event.scheduled,
        event.updated_at,
    )


def test_same_millisecond_messages_apply_in_arrival_order():
    apply_each(
        odds_change(ts=1000, markets=[ONE_X_TWO]),
        odds_change(ts=1000, markets=[(1, "", -1, {"1": "2.10", "2": "3.40", "3": "3.60"})]),
    )
    assert line(1).status == -1


def test_newer_message_with_the_same_odds_refreshes_their_timestamp():
    apply(odds_change(ts=1000, markets=[ONE_X_TWO]))
    (result,) = apply(odds_change(ts=5000, markets=[ONE_X_TWO]))
    assert result.outcome == "applied" and line(1).odds_ts == 5000


def test_outcomes_no_longer_listed_are_kept_inactive_and_status_only_entries_keep_the_odds():
    apply(odds_change(ts=1000, markets=[ONE_X_TWO]))
    apply(odds_change(ts=2000, markets=[(1, "", 1, {"1": "2.00", "3": "3.80"})]))
    mk = line(1)
    assert odds(mk) == {"1": "2.00", "3": "3.80"}
    assert mk.outcomes["2"] == {"odds": "3.40", "active": False}
    apply(odds_change(ts=3000, markets=[(1, "", 0, {})]))
    mk = line(1)
    assert mk.status == 0 and mk.odds_ts == 2000 and mk.last_ts == 3000
    assert odds(mk) == {"1": "2.00", "3": "3.80"}


def test_inactive_outcome_without_odds():
    apply(odds_change(ts=1000, markets=[(10, "", 1, {"9": "1.30", "11": None})]))
    assert line(10).outcomes["11"] == {"odds": None, "active": False}


def test_hand_over_from_prematch_to_live_and_a_late_handed_over_is_ignored():
    apply(odds_change(ts=1000, product=3, markets=[ONE_X_TWO]))
    apply(odds_change(ts=2000, product=3, markets=[(1, "", -2, {})]))
    assert (line(1).status, line(1).producer_id) == (-2, 3)
    apply(odds_change(ts=3000, product=1, markets=[(1, "", 1, {"1": "2.50", "2": "3.10", "3": "3.00"})]))
    assert (line(1).status, line(1).producer_id) == (1, 1)
    (late,) = apply(odds_change(ts=3500, product=3, markets=[(1, "", -2, {})]))
    assert late.outcome == "ignored"
    assert (line(1).status, line(1).producer_id) == (1, 1)


def test_bet_stop_suspends_the_producers_active_markets_only():
    apply(odds_change(ts=1000, markets=[ONE_X_TWO, TOTAL_25, (18, "total=3.5", 0, {})]))
    apply(odds_change(ts=1000, product=3, markets=[(60, "", 1, {"1": "3.0", "2": "2.0", "3": "4.0"})]))
    (result,) = apply(bet_stop(ts=2000))
    assert result.outcome == "applied" and result.reason == "2 markets -> -1"
    assert line(1).status == -1 and line(18, "total=2.5").status == -1
    assert line(18, "total=3.5").status == 0  # not active: untouched
    assert line(60).status == 1  # another producer's line
    assert odds(line(1)) == {"1": "2.10", "2": "3.40", "3": "3.60"}  # odds kept, just not bettable
    (again,) = apply(bet_stop(ts=2000))
    assert again.outcome == "duplicate"


def test_bet_stop_with_market_status_deactivates():
    apply(odds_change(ts=1000, markets=[ONE_X_TWO]))
    apply(bet_stop(ts=2000, market_status=0))
    assert line(1).status == 0


def test_bet_stop_older_than_the_odds_does_not_suspend_them():
    apply(odds_change(ts=5000, markets=[ONE_X_TWO]))
    (result,) = apply(bet_stop(ts=4000))
    assert result.outcome == "stale" and line(1).status == 1


def test_reopening_after_a_bet_stop():
    apply_each(odds_change(ts=1000, markets=[ONE_X_TWO]), bet_stop(ts=2000), odds_change(ts=3000, markets=[ONE_X_TWO]))
    assert line(1).status == 1 and line(1).odds_ts == 3000
    # ... but the odds_change that the bet_stop overtook stays out.
    (late,) = apply(odds_change(ts=1500, markets=[ONE_X_TWO]))
    assert late.outcome == "stale"


def test_bet_stop_by_group_uses_the_market_descriptions():
    descriptions_store(
        [
            Desc(1, "1x2", "", ("all", "score", "regular_play"), (), ()),
            Desc(60, "1st half - 1x2", "", ("all", "score", "1st_half"), (), ()),
        ]
    )
    invalidate_cache()
    apply(odds_change(ts=1000, markets=[ONE_X_TWO, (60, "", 1, {"1": "3.0"}), (999, "", 1, {"1": "9.0"})]))
    (result,) = apply(bet_stop(ts=2000, groups="1st_half|corners"))
    assert result.outcome == "applied"
    assert line(1).status == 1  # regular_play only: not in the stopped groups
    assert line(60).status == -1
    assert line(999).status == -1  # no description yet: stopped (the safe side)


def test_odds_change_with_a_betstop_reason_and_no_markets_stops_the_event():
    apply(odds_change(ts=1000, markets=[ONE_X_TWO]))
    (result,) = apply(odds_change(ts=2000, betstop_reason=1))
    assert result.outcome == "applied" and line(1).status == -1
    assert SportEvent.objects.get(urn=EVENT).betstop_reason == 1


def test_sport_event_status_and_sport_from_the_routing_key():
    apply(
        odds_change(ts=1000, status=(1, 6, 0, 1), markets=[ONE_X_TWO]),
        routing_key="hi.-.live.odds_change.1.sr:match.1.-",
    )
    apply(odds_change(ts=900, status=(0, 0, 0, 0)))
    event = SportEvent.objects.get(urn=EVENT)
    assert (event.sport_id, event.status, event.match_status, event.home_score, event.away_score) == (1, 1, 6, "0", "1")


def test_fixture_change_asks_for_the_fixture_again_and_moves_the_start():
    body = sample("fixture_change_1.xml")
    (first,) = apply(body)
    event = SportEvent.objects.get(urn="sr:match:8816128")
    assert first.outcome == "applied" and event.fixture_needed and event.fixture_change_type == 2
    assert event.scheduled == datetime(2016, 6, 20, 15, 30, tzinfo=UTC)
    SportEvent.objects.filter(pk=event.pk).update(fixture_needed=False)
    (again,) = apply(body)
    assert again.outcome == "duplicate" and not SportEvent.objects.get(pk=event.pk).fixture_needed


def test_shared_odds_change_samples_build_the_expected_lines():
    results = apply(
        sample("odds_change_1.xml"),
        sample("odds_change_2.xml"),
        sample("odds_change_3.xml"),
        sample("odds_change_4.xml"),
    )
    assert [r.outcome for r in results] == ["applied"] * 4
    live = lines("sr:match:10927088")
    assert len(live) == 42
    assert live[(68, "total=2.5")][0:2] == (1, 4)
    assert live[(68, "total=1.5")][0] == -3
    assert live[(71, "variant=sr:exact_goals:4+")][2]["sr:exact_goals:4+:92"] == {"odds": None, "active": False}
    assert len(lines("sr:match:31604309")) == 170
    assert {v[0] for v in lines("sr:match:52631577").values()} == {0}  # undescribed market ids are stored all the same
    player = line(899, "", "sr:match:123").outcomes["sr:player:10077"]
    assert player == {"odds": "200.0", "active": True, "prob": "0.000897094", "team": 1}


def _outcome_json_cases():
    from decimal import Decimal

    from feeds.protocol.messages import MarketOdds, OutcomeOdds

    d = Decimal

    ids = iter(range(1, 100))

    def mk(*outcomes):  # a line of its own each
        return MarketOdds(next(ids), "", 1, tuple(OutcomeOdds(*o) for o in outcomes))

    return [
        mk(("1", d("2.10"), d("0.45"), True), ("2", d("3.40"), d("0.3"), True), ("3", d("3.60"), d("0.25"), False)),
        mk(('a"b\\c', d("1.5"), d("1E-7"), True), ("é\n\x01", d("1.50"), d("0.000001"), True)),
        mk(("1", d("2"), None, True), ("2", d("3"), d("0.5"), True)),  # no probability
        mk(("1", None, d("0.5"), False), ("2", d("3"), d("0.5"), True)),  # no odds
        mk(("1", d("2"), d("0.5"), True, 1), ("2", d("3"), d("0.5"), True, 2)),  # teams
        mk(("1", d("2"), d("0.5"), True), ("1", d("4"), d("0.25"), False)),  # a repeated id
        mk(("1", d("2"), d("0.5"), 1), ("2", d("3"), d("0.5"), True)),  # not a bool (a hand-built message)
        mk(("9", d("1.01"), d("0.99"), True)),
    ]


def test_outcomes_json_built_with_the_outcomes_is_what_the_store_would_encode():
    """_apply_market_odds builds the usual line's JSON text itself: it must equal the encoding
    of the outcomes dict, and it is dropped whenever it could differ."""
    from feeds.protocol import messages as m
    from feeds.services import rows, state, store

    ws = rows.Workspace(now=datetime(2026, 1, 1, tzinfo=UTC))
    ws.events[EVENT] = rows.EventRow(1, EVENT)
    built = 0
    for ts, market in enumerate(_outcome_json_cases(), start=1):
        msg = m.OddsChange(product=1, event_urn=EVENT, timestamp=ts, request_id=None, markets=(market,), has_odds=True)
        state.apply_message(ws, msg)
        row = ws.markets[(EVENT, market.id, "")]
        if row.outcomes_json is not None:
            built += 1
            assert row.outcomes_json == store._dumps_fast(row.outcomes)
    assert built == 3  # the first two cases and the last; the others fall back
    # Outcomes no longer listed are kept inactive: the text is then left to the encoder.
    msg = m.OddsChange(
        product=1,
        event_urn=EVENT,
        timestamp=100,
        request_id=None,
        markets=(_outcome_json_cases()[-1]._replace(outcomes=(m.OutcomeOdds("8", None, None, True),)),),
        has_odds=True,
    )
    state.apply_message(ws, msg)
    row = ws.markets[(EVENT, 8, "")]
    assert row.outcomes_json is None and set(row.outcomes) == {"8", "9"}
    # A status-only update keeps the outcomes, and their text.
    state.apply_message(
        ws, m.OddsChange(1, EVENT, 101, None, (_outcome_json_cases()[0]._replace(outcomes=()),), has_odds=True)
    )
    row = ws.markets[(EVENT, 1, "")]
    assert row.last_ts == 101 and row.outcomes_json == store._dumps_fast(row.outcomes)


def test_shared_samples_outcomes_json_matches_the_encoder():
    from feeds.protocol import messages as m
    from feeds.services import rows, state, store
    from feeds.simulator import SIMDATA

    for path in sorted(SIMDATA.glob("odds_change*.xml")):
        msg = m.parse_message(path.read_bytes())
        ws = rows.Workspace(now=datetime(2026, 1, 1, tzinfo=UTC))
        ws.events[msg.event_urn] = rows.EventRow(1, msg.event_urn)
        state.apply_message(ws, msg)
        for row in ws.markets.values():
            if row.outcomes_json is not None:
                assert row.outcomes_json == store._dumps_fast(row.outcomes), path.name


def test_a_market_re_sent_unchanged_keeps_its_states_and_moves_its_timestamps():
    from feeds.services import store

    prices = {"12": "1.85", "13": "1.95"}
    apply(odds_change(ts=1000, markets=[(18, "total=2.5", 1, prices)]))
    apply(odds_change(ts=2000, markets=[(18, "total=2.5", 1, prices)]))  # cached row, built from these outcomes
    row = store.CACHE.lines[("sr:match:1", 18, "total=2.5")]
    states = row.outcomes
    (again,) = apply(odds_change(ts=3000, markets=[(18, "total=2.5", 1, prices)]))  # a recovery resend
    assert again.outcome == "applied"
    assert row.outcomes is states  # recognised by the parsed outcomes: not rebuilt
    line = Market.objects.get(market_id=18)
    assert (line.odds_ts, line.last_ts) == (3000, 3000)
    assert line.outcomes == {"12": {"odds": "1.85", "active": True}, "13": {"odds": "1.95", "active": True}}
    assert {k: v["odds"] for k, v in line.outcomes.items()} == prices
    (moved,) = apply(odds_change(ts=4000, markets=[(18, "total=2.5", 1, {"12": "1.80", "13": "2.00"})]))
    assert moved.outcome == "applied" and row.outcomes is not states
    assert {k: v["odds"] for k, v in Market.objects.get(market_id=18).outcomes.items()} == {"12": "1.80", "13": "2.00"}
