"""The callback hot path (issue #18): what a Betsy or IGPX callback sends to PostgreSQL, and
subscribers that take what they need from the event instead of reading back what was just written.

Statements are counted below Django (bench/_capture.Recorder: psycopg's own cursor, which the hot
path uses), the ORM's queries with django_assert_max_num_queries: a subscriber re-reading the
settlement (`Settlement.objects.select_related("bet").get()`) fails both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import signals
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from bench._capture import call
from crm.models import OutboxEvent
from feeds import reconcile
from tests.factories import fund, make_player
from tests.statements import sent
from tests.wallet.betsy.conftest import Actor
from wallet import events
from wallet.betsy.simulator import Betsy, WireReply
from wallet.igpx.protocol import sign as igpx_sign
from wallet.models import Settlement
from wallet.services import reviews

IGPX_SECRET = "hot-path-igpx-secret"


@pytest.fixture
def wsgi_betsy(db) -> Betsy:
    """Betsy calling the production entry point (config.wsgi.application) in-process. The request
    signals would close the test's connection: Django's test client disconnects them too."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield Betsy(lambda r: WireReply(*call(r.method, r.path, r.body, r.headers), {}), settings.BETSY_PARTNER_SECRET)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@contextmanager
def no_orm_query() -> Iterator[None]:
    """The ORM sends nothing (the test transaction's savepoints aside): a subscriber that read
    back the settlement through it would."""
    with CaptureQueriesContext(connection) as context:
        yield
    queries = [q["sql"] for q in context.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert not queries, queries


def reads_back_a_settlement(statements: list[str]) -> bool:
    return any(s.startswith("SELECT") and '"wallet_settlement"' in s for s in statements)


@pytest.mark.parametrize(("amount", "result", "count"), [("5.00", "won", 3), ("0", "lost", 2)])
def test_a_betsy_settle_is_three_statements_and_reads_back_nothing(
    wsgi_betsy, recorder, django_capture_on_commit_callbacks, amount, result, count
):
    alice = Actor("alice")
    with django_capture_on_commit_callbacks(execute=True):  # house account ids cached, as in production
        assert wsgi_betsy.place("hot-0", "alice", "USD", Decimal("2.50"), alice.token).status == 200
        assert wsgi_betsy.settle("hot-0", "alice", "USD", Decimal("1"), "won").status == 200
    assert wsgi_betsy.place("hot-1", "alice", "USD", Decimal("2.50"), alice.token).status == 200
    with no_orm_query(), recorder.recording() as statements:
        reply = wsgi_betsy.settle("hot-1", "alice", "USD", Decimal(amount), result)
    assert reply.status == 200, reply.body
    sql = sent(statements)
    # The claim with the bet, its wallet and the CRM export's read; the step (with its payout);
    # the stored answer carrying the outbox rows. A lost bet's step has no payout to travel
    # with: the claim takes its id and the answer's statement carries it too.
    assert len(sql) == count, sql
    assert not reads_back_a_settlement(sql)
    step = Settlement.objects.get(bet__external_id="hot-1")
    assert (step.kind, step.amount, step.result) == ("settle", Decimal(amount), result)
    assert OutboxEvent.objects.filter(settlement=step, event_status="Approved").exists()


# A paid bet's unsettle adds the reversal's own statements (wallet.services.reversals: the payout
# in force, its entries with its lock, the balance it may leave in debt, the posting): 7 at most.
@pytest.mark.parametrize(("amount", "result", "expected"), [("5.00", "won", 7), ("0", "lost", 3)])
def test_a_betsy_unsettle_takes_the_settle_s_flow_and_reads_back_nothing(
    wsgi_betsy, recorder, django_capture_on_commit_callbacks, amount, result, expected
):
    alice = Actor("alice")
    with django_capture_on_commit_callbacks(execute=True):  # house account ids cached, as in production
        assert wsgi_betsy.place("hot-0", "alice", "USD", Decimal("2.50"), alice.token).status == 200
        assert wsgi_betsy.settle("hot-0", "alice", "USD", Decimal("1"), "won").status == 200
        assert wsgi_betsy.unsettle("hot-0", "alice", "USD", Decimal("1")).status == 200
    assert wsgi_betsy.place("hot-1", "alice", "USD", Decimal("2.50"), alice.token).status == 200
    assert wsgi_betsy.settle("hot-1", "alice", "USD", Decimal(amount), result).status == 200
    with no_orm_query(), recorder.recording() as statements:
        reply = wsgi_betsy.unsettle("hot-1", "alice", "USD", Decimal(amount))
    assert reply.status == 200, reply.body
    sql = sent(statements)
    # The claim with the bet, its wallet and the CRM export's read (no bet read after it); for a
    # paid bet the payout in force and its reversal; the step; the answer.
    assert len(sql) <= expected, sql
    assert not reads_back_a_settlement(sql[1:])
    assert sum('"wallet_bet"' in s or "wallet_bet " in s for s in sql) == 2  # the first statement's, the step's
    step = Settlement.objects.filter(bet__external_id="hot-1").latest("id")
    assert (step.kind, step.previous_amount) == ("unsettle", Decimal(amount))
    assert wsgi_betsy.retry().body == reply.body  # a retry, once the bet is open, replays the first answer


@pytest.mark.parametrize("settled", [False, True])
def test_a_betsy_rollback_reads_its_bet_with_the_claim_and_sets_no_tombstone(
    wsgi_betsy, recorder, django_capture_on_commit_callbacks, settled
):
    alice = Actor("alice")
    with django_capture_on_commit_callbacks(execute=True):  # house account ids cached, as in production
        assert wsgi_betsy.place("hot-0", "alice", "USD", Decimal("2.50"), alice.token).status == 200
        assert wsgi_betsy.rollback("hot-0", "alice", "USD", Decimal("2.50")).status == 200
    assert wsgi_betsy.place("hot-1", "alice", "USD", Decimal("2.50"), alice.token).status == 200
    if settled:
        assert wsgi_betsy.settle("hot-1", "alice", "USD", Decimal("5.00"), "won").status == 200
    with no_orm_query(), recorder.recording() as statements:
        reply = wsgi_betsy.rollback("hot-1", "alice", "USD", Decimal("2.50"))
    assert reply.status == 200, reply.body
    sql = sent(statements)
    assert sum("INSERT INTO wallet_idempotencyrecord" in s for s in sql) == 1  # the claim; no tombstone
    assert sum("wallet_bet " in s or '"wallet_bet"' in s for s in sql) == 2  # the claim's read, the step's update
    assert not reads_back_a_settlement(sql[1:])
    assert Settlement.objects.filter(bet__external_id="hot-1").latest("id").kind == "rollback"
    assert wsgi_betsy.retry().body == reply.body


def test_a_betsy_place_is_igpx_s_three_statements(wsgi_betsy, recorder, django_capture_on_commit_callbacks):
    alice = Actor("alice")
    with django_capture_on_commit_callbacks(execute=True):
        assert wsgi_betsy.place("hot-0", "alice", "USD", Decimal("2.50"), alice.token).status == 200
    with no_orm_query(), recorder.recording() as statements:
        reply = wsgi_betsy.place("hot-2", "alice", "USD", Decimal("2.50"), alice.token)
    assert reply.status == 200, reply.body
    assert len(sent(statements)) == 3, sent(statements)  # claim + wallet; posting with the bet; answer + outbox


@pytest.mark.parametrize("amount", ["2.50", "0"])
def test_an_igpx_result_reads_back_nothing(wsgi_betsy, recorder, django_capture_on_commit_callbacks, settings, amount):
    settings.IGPX_SECURITY_HASH = IGPX_SECRET
    fund(make_player("bob"), "20")

    def result(transaction_id: str) -> tuple[int, bytes]:
        body = json.dumps(
            {
                "transaction_id": transaction_id,
                "action": "result",
                "user_id": "bob",
                "currency": "EUR",
                "amount": amount,
            }
        ).encode()
        return call("POST", "/api/igpx/transaction", body, {"X-Security-Hash": igpx_sign(body, IGPX_SECRET)})

    with django_capture_on_commit_callbacks(execute=True):
        result("r-0")
    with no_orm_query(), recorder.recording() as statements:
        status, answer = result("r-1")
    assert status == 200 and json.loads(answer)["error"] is None
    sql = sent(statements)
    # The claim; the payout with its settlement row, or for nothing paid
    # the settlement row alone; the answer with the outbox row (and COMMIT).
    assert len(sql) == 3 and not reads_back_a_settlement(sql), sql
    assert ("INSERT INTO wallet_settlement" in sql[1]) and (("UPDATE wallet_account" in sql[1]) == (amount != "0"))


def test_a_betsy_retry_is_answered_byte_for_byte_on_the_lean_route(wsgi_betsy):
    alice = Actor("alice")
    placed = wsgi_betsy.place("hot-3", "alice", "USD", Decimal("2.50"), alice.token)
    assert placed.status == 200 and wsgi_betsy.retry().body == placed.body
    settled = wsgi_betsy.settle("hot-3", "alice", "USD", Decimal("5.00"), "won")
    assert settled.status == 200 and wsgi_betsy.retry().body == settled.body
    assert alice.balance == Decimal("22.50")  # 20 - 2.50 + 5.00, once


def test_a_settle_after_an_unsettle_applies_again_and_the_review_queue_knows(wsgi_betsy):
    alice = Actor("alice")
    wsgi_betsy.place("hot-4", "alice", "USD", Decimal("10"), alice.token)
    first = wsgi_betsy.settle("hot-4", "alice", "USD", Decimal("60"), "won")
    assert wsgi_betsy.unsettle("hot-4", "alice", "USD", Decimal("60")).status == 200
    again = wsgi_betsy.settle("hot-4", "alice", "USD", Decimal("60"), "won")  # the same result, a new epoch
    assert again.status == 200 and again.body != first.body
    assert alice.balance == Decimal("70")
    unsettle_item = reviews.ReviewItem.objects.get(kind="unsettle", bet__external_id="hot-4")
    assert unsettle_item.status == "resolved"  # the settle restored what the unsettle took back


# --- Subscribers do nothing for events they ignore ----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [events.BET_PLACED, events.BET_UNSETTLED, events.RESULT_CREDITED])
def test_the_feed_check_ignores_what_is_not_a_bet_settlement(django_assert_num_queries, kind):
    event = events.WalletEvent(kind=kind, player_id=1, currency="EUR", provider="betsy", bet_id=1, settlement_id=1)
    with django_assert_num_queries(0):
        reconcile.on_wallet_event(event)


@pytest.mark.django_db
def test_the_review_queue_reads_nothing_for_a_small_rollback_of_a_result(django_assert_num_queries):
    event = events.WalletEvent(
        kind=events.TRANSACTION_REVERSED,
        player_id=1,
        currency="EUR",
        provider="igpx",
        settlement_id=1,
        transaction_ids=(1,),
        amount=Decimal(0),
        previous_amount=Decimal("2.50"),
    )
    with django_assert_num_queries(0):
        reviews.review_on_wallet_event(event)


def test_a_betsy_resettle_exports_the_rollback_and_the_new_settlement_from_the_prefetched_rows(wsgi_betsy):
    alice = Actor("alice")
    wsgi_betsy.place("hot-5", "alice", "USD", Decimal("2.50"), alice.token)
    wsgi_betsy.settle("hot-5", "alice", "USD", Decimal("5.00"), "won")
    assert wsgi_betsy.settle("hot-5", "alice", "USD", Decimal("0"), "lost").status == 200
    first, second = Settlement.objects.filter(bet__external_id="hot-5").order_by("id")
    rows = list(
        OutboxEvent.objects.filter(bet__external_id="hot-5")
        .order_by("id")
        .values_list("event_type", "event_status", "settlement_id", "balance_before", "balance_after")
    )
    assert rows == [
        ("Bet", "Approved", None, Decimal("20"), Decimal("17.50")),
        ("Settlement", "Approved", first.pk, Decimal("17.50"), Decimal("22.50")),
        ("Settlement", "Rollback", second.pk, Decimal("22.50"), Decimal("17.50")),
        ("Settlement", "Approved", second.pk, Decimal("17.50"), Decimal("17.50")),
    ]


@pytest.mark.parametrize(
    "value",
    [
        "2026-05-01 18:30:00",
        "2024-02-29 00:00:00",
        "2023-02-29 00:00:00",
        "2026-13-01 00:00:00",
        "2026-01-01 24:00:00",
        "2026-01-01 00:00:60",
        "2026-5-1 8:30:00",  # unpadded: strptime accepts it, so do we
        "2026-05-01 18:30:00\n",
        "2026-05-01T18:30:00",
    ],
)
def test_event_dates_parse_as_strptime_would(value):
    """The canonical form skips strptime (parsing._event_date); every answer stays strptime's."""
    from datetime import UTC, datetime

    from wallet.betsy import parsing, protocol

    try:
        expected = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    except ValueError:
        with pytest.raises(protocol.BetsyError):
            parsing._event_date(value, 0)
    else:
        assert parsing._event_date(value, 0) == expected
