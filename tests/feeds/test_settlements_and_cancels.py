"""Settlements, cancels and their rollbacks: per-producer state, exact restoration of the
earlier state, out-of-order and duplicate delivery, and the history kept for each change."""

from __future__ import annotations

from decimal import Decimal

import pytest

from feeds import selectors
from feeds.models import BetCancel, Market, MarketChange, MarketSettlement
from tests.feeds.helpers import (
    apply,
    apply_each,
    bet_cancel,
    odds_change,
    rollback_cancel,
    rollback_settlement,
    sample,
    settlement,
)

pytestmark = pytest.mark.django_db

EVENT = "sr:match:1"
CORRECT_SCORE = (45, "", {"1": 0, "2": 0, "3": 0})


def state() -> dict:
    """Everything the feed knows about settlements and cancels, for exact before/after comparisons."""
    return {
        "settlements": sorted(
            (
                s.market.market_id,
                s.market.specifiers,
                s.producer_id,
                s.certainty,
                s.void_reason,
                repr(sorted(s.outcomes.items())),
            )
            for s in MarketSettlement.objects.select_related("market")
        ),
        "cancels": sorted(
            (c.market.market_id, c.market.specifiers, c.producer_id, c.window_key, c.void_reason, c.active)
            for c in BetCancel.objects.select_related("market")
        ),
        "markets": sorted(
            (mk.market_id, mk.specifiers, mk.status, repr(sorted(mk.outcomes.items()))) for mk in Market.objects.all()
        ),
    }


def settled(market_id: int, specifiers: str = "", producer: int = 1) -> dict:
    return MarketSettlement.objects.get(
        market__market_id=market_id, market__specifiers=specifiers, producer_id=producer
    ).outcomes


def test_scouted_then_confirmed_settlement():
    apply(odds_change(ts=1000, markets=[(1, "", -3, {})]))
    (first,) = apply(settlement(ts=2000, certainty=1, markets=[(1, "", {"1": 1, "2": 0, "3": 0})]))
    (second,) = apply(settlement(ts=2500, certainty=2, markets=[(1, "", {"1": 1, "2": 0, "3": 0})]))
    assert (first.outcome, second.outcome) == ("applied", "applied")
    row = MarketSettlement.objects.get()
    assert (row.certainty, row.message_ts) == (2, 2500)
    assert row.outcomes["1"] == {"result": 1, "void_factor": None, "dead_heat_factor": None}
    assert MarketChange.objects.filter(kind="settlement").count() == 2
    assert Market.objects.get().status == -3  # a settlement never changes market status


def test_void_and_dead_heat_factors_are_kept_exactly():
    apply(sample("bet_settlement_1.xml"))
    assert settled(201, producer=3) == {
        "863": {"result": 0, "void_factor": "1", "dead_heat_factor": None},
        "864": {"result": 0, "void_factor": "0.5", "dead_heat_factor": None},
        "861": {"result": 1, "void_factor": "0.5", "dead_heat_factor": None},
        "862": {"result": 0, "void_factor": None, "dead_heat_factor": None},
    }
    outright = settled(535, "variant=pre:markettext:52751", producer=3)
    assert outright["pre:outcometext:6388892"] == {"result": 1, "void_factor": None, "dead_heat_factor": "0.5"}
    (row,) = selectors.market_settlements(event_urn="sr:match:16807109", market_id=201)
    assert Decimal(row.outcomes["864"]["void_factor"]) == Decimal("0.5") and row.certainty == 2


def test_settlement_without_certainty_sample():
    (result,) = apply(sample("bet_settlement_2.xml"))
    assert result.outcome == "applied" and result.reason == "46 markets: 46 applied"
    assert MarketSettlement.objects.filter(certainty=None).count() == 46
    # a line seen only in a settlement exists, inactive, with no odds
    mk = Market.objects.get(market_id=213, specifiers="gamenr=3|setnr=3")
    assert (mk.status, mk.producer_id, mk.outcomes, mk.extended_specifiers) == (0, None, {}, "")


def test_rollback_restores_the_exact_earlier_state():
    apply(odds_change(ts=1000, markets=[(1, "", 1, {"1": "2.0", "2": "3.0", "3": "4.0"})]))
    apply(bet_cancel(ts=1500, markets=[(1, "")], start=100, end=200))
    before = state()
    apply(settlement(ts=2000, markets=[(1, "", {"1": 1, "2": 0, "3": (0, "0.5", None)})]))
    assert state() != before
    (rolled,) = apply(rollback_settlement(ts=3000, markets=[(1, "")]))
    assert rolled.outcome == "applied"
    after = state()
    # The settlement row stays (its timestamp guards against a late copy) but holds nothing.
    assert after["settlements"] == [(1, "", 1, None, None, "[]")]
    assert {k: v for k, v in after.items() if k != "settlements"} == {
        k: v for k, v in before.items() if k != "settlements"
    }
    history = list(MarketChange.objects.order_by("id").values_list("kind", "before", "after"))
    assert [h[0] for h in history] == ["cancel", "settlement", "settlement_rollback"]
    assert history[2][2]["outcomes"] == {} and history[2][1]["outcomes"]["3"]["void_factor"] == "0.5"


def test_rollback_of_some_outcomes_only():
    apply(sample("bet_settlement_3.xml"))
    (result,) = apply(sample("rollback_bet_settlement_2.xml"))
    assert result.outcome == "applied"
    assert settled(1, "goalnr=1") == {
        "2": {"result": 0, "void_factor": None, "dead_heat_factor": None},
        "3": {"result": 0, "void_factor": None, "dead_heat_factor": None},
    }


def test_rollback_then_resettlement():
    apply_each(
        settlement(ts=2000, markets=[(1, "", {"1": 1, "2": 0, "3": 0})]),
        rollback_settlement(ts=3000, markets=[(1, "")]),
        settlement(ts=4000, markets=[(1, "", {"1": 0, "2": 1, "3": 0})]),
    )
    assert settled(1)["2"]["result"] == 1 and settled(1)["1"]["result"] == 0


def test_a_rollback_that_overtook_its_settlement_wins():
    rollback, late = rollback_settlement(ts=3000, markets=[(1, "")]), settlement(ts=2000, markets=[(1, "", {"1": 1})])
    first, second = apply_each(rollback, late)
    assert (first.outcome, second.outcome) == ("ignored", "stale")
    assert settled(1) == {}


def test_duplicate_settlement_is_a_no_op_without_history():
    message = settlement(ts=2000, markets=[(1, "", {"1": 1, "2": 0, "3": 0})])
    apply(message)
    before = state()
    (again,) = apply(message)
    assert again.outcome == "duplicate"
    assert state() == before
    assert MarketChange.objects.count() == 1


def test_recovery_resend_with_a_newer_timestamp_is_a_duplicate_too():
    apply(settlement(ts=2000, markets=[(1, "", {"1": 1})]))
    (again,) = apply(settlement(ts=9000, markets=[(1, "", {"1": 1})]))
    assert again.outcome == "duplicate" and MarketSettlement.objects.get().message_ts == 9000
    (late,) = apply(settlement(ts=5000, markets=[(1, "", {"1": 0})]))
    assert late.outcome == "stale"


def test_correct_score_settled_per_producer_live_lost_prematch_void():
    """Seed 002: the live producer settles every outcome lost, the prematch one void."""
    apply(settlement(ts=2000, product=1, markets=[CORRECT_SCORE]))
    apply(
        settlement(
            ts=2100, product=3, markets=[(45, "", {"1": (0, "1", None), "2": (0, "1", None), "3": (0, "1", None)})]
        )
    )
    assert settled(45, producer=1)["1"] == {"result": 0, "void_factor": None, "dead_heat_factor": None}
    assert settled(45, producer=3)["1"] == {"result": 0, "void_factor": "1", "dead_heat_factor": None}
    # rolling back one producer's settlement leaves the other's alone
    apply(rollback_settlement(ts=3000, product=3, markets=[(45, "")]))
    assert settled(45, producer=3) == {} and settled(45, producer=1)["2"]["result"] == 0


def test_stateful_message_without_markets_is_ignored():
    (result,) = apply(
        f'<bet_settlement certainty="1" product="1" event_id="{EVENT}" timestamp="1"><outcomes/></bet_settlement>'
    )
    assert result.outcome == "ignored" and result.reason == "no markets"


# --- cancels -------------------------------------------------------------------------------------------------


def test_cancel_window_sample_and_its_rollback():
    (result,) = apply(sample("bet_cancel_1.xml"))
    assert result.outcome == "applied"
    (cancel,) = selectors.market_cancels(event_urn="sr:match:18941600", market_id=62, specifiers="goalnr=1")
    assert (cancel.start_ts, cancel.end_ts, cancel.void_reason, cancel.active) == (
        1564597838000,
        1564598513000,
        12,
        True,
    )
    assert (cancel.end_time - cancel.start_time).total_seconds() == 675  # the 11-minute window
    rollback = rollback_cancel(
        event="sr:match:18941600",
        ts=1564602448841 + 1,
        markets=[(62, "goalnr=1")],
        start=1564597838000,
        end=1564598513000,
    )
    (rolled,) = apply(rollback)
    assert rolled.outcome == "applied"
    assert selectors.market_cancels(event_urn="sr:match:18941600", market_id=62, specifiers="goalnr=1") == []


def test_cancel_never_changes_market_status():
    apply(odds_change(ts=1000, markets=[(1, "", 1, {"1": "2.0"})]))
    apply(bet_cancel(ts=2000, markets=[(1, "")]))
    assert Market.objects.get().status == 1


def test_rollback_matches_the_window_exactly():
    apply(bet_cancel(ts=2000, markets=[(1, "")], start=100, end=200))
    (other,) = apply(rollback_cancel(ts=3000, markets=[(1, "")], start=100, end=300))
    assert other.outcome == "ignored"
    assert BetCancel.objects.get(window_key="100-200").active


def test_widening_a_cancel_rollback_then_cancel_without_times():
    """The documented pattern: roll back the windowed cancel, then cancel without a window."""
    apply_each(
        bet_cancel(ts=2000, markets=[(1, "")], start=100, end=200),
        rollback_cancel(ts=3000, markets=[(1, "")], start=100, end=200),
        bet_cancel(ts=3001, markets=[(1, "")]),
    )
    assert list(BetCancel.objects.order_by("window_key").values_list("window_key", "active")) == [
        ("-", True),
        ("100-200", False),
    ]


def test_cancel_that_arrives_after_its_rollback_stays_rolled_back():
    first, second = apply_each(
        rollback_cancel(ts=3000, markets=[(1, "")], start=100, end=200),
        bet_cancel(ts=2000, markets=[(1, "")], start=100, end=200),
    )
    assert (first.outcome, second.outcome) == ("ignored", "stale")
    assert not BetCancel.objects.get().active


def test_cancel_rollback_round_trip_restores_state_exactly():
    apply(odds_change(ts=1000, markets=[(1, "", 1, {"1": "2.0"})]))
    apply(settlement(ts=1500, markets=[(1, "", {"1": 1})]))
    before = state()
    apply(bet_cancel(ts=2000, markets=[(1, "")], start=10, end=20))
    apply(rollback_cancel(ts=2500, markets=[(1, "")], start=10, end=20))
    after = state()
    assert after["settlements"] == before["settlements"] and after["markets"] == before["markets"]
    assert after["cancels"] == [(1, "", 1, "10-20", 12, False)]


def test_duplicate_cancel_and_duplicate_rollback():
    cancel = bet_cancel(ts=2000, markets=[(1, "")])
    rollback = rollback_cancel(ts=3000, markets=[(1, "")])
    outcomes = [r.outcome for r in apply_each(cancel, cancel, rollback, rollback)]
    assert outcomes == ["applied", "duplicate", "applied", "duplicate"]
    assert MarketChange.objects.count() == 2


def test_shared_cancel_and_rollback_samples():
    results = apply_each(sample("bet_cancel_2.xml"), sample("rollback_bet_cancel_1.xml"))
    assert [r.outcome for r in results] == ["applied", "applied"]
    assert list(
        BetCancel.objects.order_by("market__market_id").values_list("market__market_id", "market__specifiers", "active")
    ) == [(312, "pointnr=45|setnr=4", False), (313, "pointnr=1|setnr=2", False), (314, "", True)]
