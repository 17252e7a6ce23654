"""The outbox delivers over REST to the Fast Track simulator: once, in order, with retries,
dead letters and staff actions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm import claims, conf
from crm.models import OutboxEvent
from crm.services import deliver_pending, outbox_retry, outbox_skip, recover_expired_leases
from crm.transports import PermanentError, TransientError
from crm.transports.rest import RestTransport
from tests.crm.conftest import API_KEY, SELECTION, place, rows, settle
from tests.factories import fund, make_player
from wallet.models import AuditLog

pytestmark = pytest.mark.django_db

Status = OutboxEvent.Status


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def activity(players_bets):
    """Place and settle one bet for each (player, n) pair."""
    for player, n in players_bets:
        placed = place(player, "1.00", f"{player.external_id}-{n}", odds=Decimal("2"), selections=[SELECTION])
        settle(placed.bet.pk, "2.00" if n % 2 else "0", "won" if n % 2 else "lost")


def assert_player_order(simulator, players):
    """Each player's events reached Fast Track in the order they were written."""
    received = simulator.activity_ids()
    for player in players:
        mine = [r.activity_id for r in rows(player=player)]
        assert [a for a in received if a in mine] == mine, player.external_id


@pytest.fixture
def alice():
    player = make_player("alice")
    fund(player, "100.00")
    return player


@pytest.fixture
def bob():
    player = make_player("bob")
    fund(player, "100.00")
    return player


def test_everything_is_delivered_once_in_order(alice, bob, simulator, rest):
    activity([(alice, 1), (bob, 1), (alice, 2), (bob, 2)])

    result = deliver_pending(transport=rest)
    assert len(result.delivered) == 8
    assert sorted(simulator.activity_ids()) == sorted(r.activity_id for r in rows())
    assert_player_order(simulator, [alice, bob])
    assert {r.status for r in rows()} == {Status.DELIVERED}
    assert all(r.attempts == 1 and r.delivered_at for r in rows())

    again = deliver_pending(transport=rest)
    assert again.claimed == 0 and len(simulator.received) == 8  # delivered is never sent again


def test_the_body_sent_is_the_body_stored(alice, simulator, rest):
    activity([(alice, 1)])
    deliver_pending(transport=rest)
    assert [raw.decode() for raw in simulator.raw] == [r.body for r in rows()]


def test_fast_track_down_then_back(alice, bob, simulator, rest):
    """An outage pauses delivery without counting attempts; the first probe after it delivers all, in order."""
    activity([(alice, 1), (bob, 1), (alice, 2)])
    expected = [r.activity_id for r in rows()]
    simulator.fail_with(503)

    first = deliver_pending(transport=rest)
    assert first.paused and first.delivered == [] and first.failed == []
    assert simulator.requests == 2  # two players' heads tried, then it stopped
    assert {r.status for r in rows()} == {Status.PENDING}
    assert all(r.attempts == 0 for r in rows())  # an outage is not the events' fault
    assert sum("HTTP 503" in r.last_error for r in rows()) == 2  # staff see why they wait

    assert deliver_pending(transport=rest, now=later(1)).claimed == 0  # paused until the probe
    assert simulator.requests == 2
    assert deliver_pending(transport=rest, now=later(conf.PROBE_SECONDS + 1)).paused  # a probe: still down
    assert simulator.requests == 4

    simulator.recover()
    back = deliver_pending(transport=rest, now=later(2 * conf.PROBE_SECONDS + 2))
    assert len(back.delivered) == len(expected)
    assert simulator.duplicates() == {}
    assert_player_order(simulator, [alice, bob])
    assert {r.status for r in rows()} == {Status.DELIVERED}
    assert all(r.attempts == 1 and r.last_error == "" for r in rows())


def test_4xx_is_permanent_and_blocks_only_that_player(alice, bob, simulator, rest):
    activity([(alice, 1), (bob, 1)])
    simulator.fail_with(400, count=1)  # the first request (alice's bet) is refused
    due = rows(player=alice)[0].next_attempt_at

    deliver_pending(transport=rest)
    alice_bet, alice_settlement = rows(player=alice)
    assert (alice_bet.status, alice_bet.attempts, alice_bet.next_attempt_at) == (Status.DEAD, 1, due)
    assert "HTTP 400" in alice_bet.last_error
    assert alice_settlement.status == Status.PENDING  # held back behind the dead letter
    assert {r.status for r in rows(player=bob)} == {Status.DELIVERED}
    assert deliver_pending(transport=rest, now=later(3600)).claimed == 0  # still blocked


def test_staff_retry_of_a_dead_letter_is_audited_and_releases_the_player(alice, simulator, rest):
    activity([(alice, 1)])
    simulator.fail_with(422, count=1)
    deliver_pending(transport=rest)
    dead = rows()[0]

    result = outbox_retry(event_ids=[dead.pk], actor_id=None, reason="FT fixed their validation")
    assert result.changed == [dead.pk]
    audit = AuditLog.objects.get(action="crm.outbox.retry")
    assert audit.object_id == str(dead.pk) and audit.reason == "FT fixed their validation"
    assert audit.data["from"] == "dead" and "HTTP 422" in audit.data["error"]

    deliver_pending(transport=rest)
    assert simulator.activity_ids() == [r.activity_id for r in rows()]


def test_staff_skip_lets_later_events_through(alice, simulator, rest):
    activity([(alice, 1)])
    simulator.fail_with(400, count=1)
    deliver_pending(transport=rest)
    dead = rows()[0]

    outbox_skip(event_ids=[dead.pk], actor_id=None, reason="bet voided with FT by hand")
    assert AuditLog.objects.filter(action="crm.outbox.skip", object_id=str(dead.pk)).exists()
    deliver_pending(transport=rest)
    assert [r.status for r in rows()] == [Status.SKIPPED, Status.DELIVERED]


def test_staff_actions_need_a_reason_and_skip_refuses_delivered_rows(alice, simulator, rest):
    activity([(alice, 1)])
    deliver_pending(transport=rest)
    with pytest.raises(ValueError):
        outbox_skip(event_ids=[rows()[0].pk], actor_id=None, reason=" ")
    assert outbox_skip(event_ids=[rows()[0].pk], actor_id=None, reason="x").refused == [rows()[0].pk]


def test_staff_can_resend_a_delivered_event_byte_for_byte(alice, simulator, rest):
    activity([(alice, 1)])
    deliver_pending(transport=rest)
    first = rows()[0]
    outbox_retry(event_ids=[first.pk], actor_id=None, reason="FT lost it")
    deliver_pending(transport=rest)
    assert simulator.raw[0] == simulator.raw[-1] and len(simulator.raw) == 3


def test_a_retry_sends_the_same_bytes(alice, simulator, rest, settings):
    activity([(alice, 1)])
    simulator.fail_with(503, count=1)
    deliver_pending(transport=rest)
    settings.FASTTRACK_ORIGIN = "changed-meanwhile"  # a setting changed between attempts
    deliver_pending(transport=rest, now=later(5))
    assert simulator.received[0]["origin"] == "touchline-test"


def test_wrong_api_key_is_permanent(alice, simulator):
    activity([(alice, 1)])
    deliver_pending(transport=RestTransport(simulator.url, "not-the-key"))
    assert rows()[0].status == Status.DEAD and "HTTP 401" in rows()[0].last_error


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_rest_transient_statuses(simulator, rest, status):
    from crm.transports import Message

    simulator.fail_with(status, count=1)
    with pytest.raises(TransientError):
        rest.send(Message(activity_id="x", user_id="1", body=b"{}"))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_rest_permanent_statuses(simulator, rest, status):
    from crm.transports import Message

    simulator.fail_with(status, count=1)
    with pytest.raises(PermanentError):
        rest.send(Message(activity_id="x", user_id="1", body=b"{}"))


def test_network_errors_are_an_outage(alice):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    activity([(alice, 1)])
    result = deliver_pending(transport=RestTransport(f"http://127.0.0.1:{port}", API_KEY, connect_timeout=1))
    head = rows()[0]
    assert result.paused
    assert head.status == Status.PENDING and head.attempts == 0 and "network error" in head.last_error


def test_the_simulator_refuses_what_breaks_our_schema(simulator, rest):
    from crm.transports import Message

    with pytest.raises(PermanentError, match="HTTP 400"):
        rest.send(Message(activity_id="x", user_id="1", body=b'{"activity_id": "x", "amount": 1.5}'))
    assert simulator.received == [] and "required" in simulator.rejected[0][1]


def test_missing_exchange_rate_is_a_dead_letter_not_a_guess(simulator, rest):
    dave = make_player("dave", currencies=("GBP",))
    fund(dave, "10", currency="GBP")
    place(dave, "1.00", "g-1", currency="GBP", selections=[SELECTION])
    deliver_pending(transport=rest)
    head = rows()[0]
    assert head.status == Status.DEAD and "no exchange rate for GBP" in head.last_error
    assert simulator.received == []


def test_a_worker_that_died_mid_batch_loses_its_rows_after_the_lease(alice, simulator, rest):
    activity([(alice, 1)])
    claimed = claims.claim(token="dead-worker", now=timezone.now())
    assert len(claimed.rows) == 2
    assert deliver_pending(transport=rest).claimed == 0  # leased: nobody else may send them

    assert recover_expired_leases(now=later(conf.LEASE_SECONDS + 1)) == 2
    assert {(r.status, r.attempts) for r in rows()} == {(Status.PENDING, 0)}  # a lapsed lease is no attempt
    deliver_pending(transport=rest, now=later(conf.LEASE_SECONDS + 2))
    assert {r.status for r in rows()} == {Status.DELIVERED}
    assert len(simulator.received) == 2


def test_a_worker_past_its_lease_does_not_overwrite_the_new_owner(alice, simulator, rest):
    activity([(alice, 1)])
    mine = claims.claim(token="slow", now=timezone.now()).rows
    OutboxEvent.objects.update(claim_token="someone-else")  # the lease moved on meanwhile
    lost = claims.record("slow", mine, {r.id: ("delivered", "") for r in mine}, timezone.now())
    assert lost == 2 and {r.status for r in rows()} == {Status.SENDING}


def test_one_rest_transport_is_safe_to_share_between_threads_and_reopens_after_close():
    """crm.transports.set_override shares one transport with every thread: each thread sends on
    its own curl handle, every event arrives once, and close() only ends the connections."""
    import threading

    from crm.simulator import FastTrackSimulator
    from crm.transports import Message

    simulator = FastTrackSimulator(api_key=API_KEY, validate=False).start()
    transport = RestTransport(simulator.url, API_KEY)
    errors: list[BaseException] = []

    def sender(thread: int) -> None:
        try:
            for n in range(25):
                body = f'{{"activity_id":"t{thread}-{n}"}}'.encode()
                transport.send(Message(activity_id=f"t{thread}-{n}", user_id="1", body=body))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(simulator.activity_ids()) == sorted(f"t{t}-{n}" for t in range(4) for n in range(25))
    transport.close()
    transport.send(Message(activity_id="after-close", user_id="1", body=b'{"activity_id":"after-close"}'))
    assert simulator.activity_ids()[-1] == "after-close"
    transport.close()
    simulator.stop()
