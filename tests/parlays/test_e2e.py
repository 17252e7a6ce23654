"""The listener against the simulator over a real WebSocket and REST, in threads on localhost:
ask → quote → confirm → finalized → matched → settled, and the connection's failure modes."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections

from parlays.demo import map_simulator_events
from parlays.listener import Listener, build, run_in_thread
from parlays.models import Confirmation, InboundMessage, ListenerState, Order, ParlaySettlement, QuoteRequest
from parlays.protocol.rest import ProphetXClient
from parlays.services import inbound, orders, settlement
from parlays.services.confirmations import ConfirmService
from parlays.services.exposure import ExposureView
from parlays.services.lines import LineIndex, auto_map_lines, seed_reference_data
from parlays.services.quotes import QuoteEngine
from parlays.simulator import ProphetXSimulator, make_games
from tests.parlays.conftest import settings_for_tests

pytestmark = pytest.mark.django_db(transaction=True)


# SQLite's in-memory test database shares one cache between connections and answers a
# conflicting write with "table is locked" at once (no busy wait), unlike a file database or
# PostgreSQL. On SQLite the listener's database entry points and the test's polling take turns.
DB_LOCK = threading.RLock()


def wait_for(predicate, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with DB_LOCK:
            if predicate():
                return True
        time.sleep(interval)
    with DB_LOCK:
        return predicate()


@pytest.fixture(autouse=True)
def serialise_sqlite(monkeypatch):
    if connection.vendor != "sqlite":
        return
    targets = [
        (ConfirmService, "decide"),
        (ConfirmService, "deliver"),
        (ConfirmService, "_fail_closed"),
        (orders, "order_finalized"),
        (orders, "order_matched"),
        (orders, "refund_processed"),
        (settlement, "order_settled"),
        (settlement, "parlay_settled"),
        (inbound, "record"),
        (inbound.ListenerHealth, "flush"),
        (Listener, "_check_order"),
        (Listener, "_record_overload"),
        (QuoteEngine, "record_batch"),
        (LineIndex, "refresh"),
        (ExposureView, "refresh"),
    ]
    for owner, name in targets:
        original = getattr(owner, name)

        def serialised(*args, __original=original, **kwargs):
            with DB_LOCK:
                return __original(*args, **kwargs)

        monkeypatch.setattr(owner, name, serialised)


@pytest.fixture
def stack(request):
    """A simulator and a connected listener; settings via indirect parametrization."""
    options = dict(getattr(request, "param", {}))
    sim_options = options.pop("sim", {})
    sim = ProphetXSimulator(games=make_games(6, seed=5), health_interval_s=0.2, **sim_options).start()
    client = ProphetXClient(sim.rest_url, sim.access_key, sim.secret_key)
    map_simulator_events(sim)
    seed_reference_data(client, settings_for_tests())
    auto_map_lines()
    settings = settings_for_tests(reconnect_max_backoff_s=0.5, **options)
    listener = build(settings=settings, client=client, price_source=sim.price_source(), ws_url_override=sim.ws_url)
    listener.maintenance_interval_s = 0.2
    _, stop = run_in_thread(listener)
    assert listener.connected.wait(5), "listener did not connect"
    yield sim, listener
    stop()
    client.close()
    sim.stop()
    connections.close_all()


def test_full_lifecycle_over_the_websocket(stack):
    sim, listener = stack
    parlay_id = sim.ask(sim.pick_legs(3), stake="10")
    offers = sim.wait_offers(parlay_id)
    assert offers and not sim.offer_errors  # ProphetX's own checks passed

    order_uuid = sim.confirm(parlay_id, stake=Decimal("150"))
    answer = sim.wait_confirmation(order_uuid)
    with DB_LOCK:
        why = list(Confirmation.objects.values_list("reason", "detail"))
    assert answer.status == "accepted" and not sim.confirm_errors, why
    assert wait_for(lambda: Order.objects.filter(order_uuid=order_uuid, status="finalized").exists())

    sim.settle(order_uuid, "won")
    assert wait_for(lambda: ParlaySettlement.objects.filter(parlay_id=parlay_id).exists())
    with DB_LOCK:
        order = Order.objects.get(order_uuid=order_uuid)
        consistent = ParlaySettlement.objects.get(parlay_id=parlay_id).consistent
        topics = set(InboundMessage.objects.values_list("topic", flat=True))
    assert order.status == "settled" and order.pnl == order.bettor_stake > 0
    assert consistent
    assert {
        "price.ask.new",
        "price.confirm.new",
        "order.finalized",
        "order.matched",
        "order.settled",
        "parlay.settled",
    } <= topics
    assert wait_for(lambda: ListenerState.objects.filter(connected=True, health_checks__gt=0).exists())


def test_duplicate_rfq_is_answered_once(stack):
    sim, _ = stack
    parlay_id = sim.ask(sim.pick_legs(2), duplicate=True)
    assert sim.wait_offers(parlay_id)
    assert wait_for(lambda: InboundMessage.objects.filter(parlay_id=parlay_id, status="duplicate").exists())
    assert wait_for(lambda: QuoteRequest.objects.filter(parlay_id=parlay_id).exists())  # recorded after the offer
    with DB_LOCK:
        assert QuoteRequest.objects.filter(parlay_id=parlay_id).count() == 1


@pytest.mark.parametrize("stack", [{"health_timeout_s": 1.0}], indirect=True)
def test_reconnects_and_registers_again_after_a_silent_health_check(stack):
    sim, listener = stack
    first_socket = listener.socket_ids[-1]
    sim.health_paused = True
    assert wait_for(lambda: listener.connections >= 2, timeout=6)
    sim.health_paused = False
    assert any("health_check" in reason for reason in listener.reconnect_reasons)
    new_socket = listener.socket_ids[-1]
    assert new_socket != first_socket
    assert sim.registers[-1] == new_socket  # registered with the new socket_id
    assert wait_for(lambda: sim.subscribed_sockets() == 1)  # both channels, fresh auth
    parlay_id = sim.ask(sim.pick_legs(2))
    assert sim.wait_offers(parlay_id)


def test_reconnects_after_the_socket_drops(stack):
    sim, listener = stack
    sim.drop_connections()
    assert wait_for(lambda: listener.connections >= 2, timeout=5)
    assert len(set(sim.registers)) == 2
    assert sim.logins == 1  # a reconnect registers the new socket; it never opens a new session
    parlay_id = sim.ask(sim.pick_legs(2))
    assert sim.wait_offers(parlay_id)


@pytest.mark.parametrize("stack", [{"pong_timeout_s": 0.5, "sim": {"activity_timeout_s": 1}}], indirect=True)
def test_no_pong_means_reconnect(stack):
    sim, listener = stack
    sim.health_paused = True
    sim.answer_pings = False
    assert wait_for(lambda: listener.connections >= 2, timeout=6)
    assert "no pusher:pong" in listener.reconnect_reasons


def test_bad_frames_are_stored_and_the_listener_carries_on(stack):
    sim, listener = stack
    sim.send_raw("this is not a frame")
    sim.publish(sim.broadcast_channel, "price.ask.new", {"parlay_id": "oops", "stake": Decimal("1")})
    assert wait_for(lambda: InboundMessage.objects.filter(status="rejected").count() == 2)
    with DB_LOCK:
        assert not QuoteRequest.objects.exists()
    parlay_id = sim.ask(sim.pick_legs(2))
    assert sim.wait_offers(parlay_id)
    assert listener.connections == 1


def test_a_confirm_answer_lost_in_transit_is_checked_against_the_order_list(stack):
    sim, listener = stack
    parlay_id = sim.ask(sim.pick_legs(2))
    assert sim.wait_offers(parlay_id)
    sim.fail_confirm_callbacks = 1  # ProphetX takes the accept but answers 500
    sim.auto_finalize = False
    order_uuid = sim.confirm(parlay_id, stake=Decimal("50"))
    sim.wait_confirmation(order_uuid)
    assert wait_for(lambda: Confirmation.objects.filter(order_uuid=order_uuid, delivery="refused").exists())
    with DB_LOCK:
        assert Order.objects.get(order_uuid=order_uuid).status == "accepted"
    # ProphetX did book it: the +3 s check finds it in /parlay/sp/orders.
    sim.orders[order_uuid].status = "finalized"
    assert wait_for(lambda: Order.objects.get(order_uuid=order_uuid).status == "finalized", timeout=6)


def test_server_ping_is_answered_with_pong(stack):
    sim, listener = stack
    sim.send_raw('{"event":"pusher:ping","data":{}}')
    assert wait_for(lambda: sim.pongs_received == 1)
    assert listener.connections == 1


def test_pusher_error_4201_reconnects_at_once(stack):
    sim, listener = stack
    sim.send_raw('{"event":"pusher:error","data":{"code":4201,"message":"Pong reply not received"}}')
    assert wait_for(lambda: listener.connections >= 2, timeout=3)
    assert any("4201" in reason for reason in listener.reconnect_reasons)


def test_pusher_error_4001_is_a_configuration_error_not_a_reconnect_loop(stack):
    sim, listener = stack
    sim.send_raw('{"event":"pusher:error","data":{"code":4001,"message":"Application does not exist"}}')
    assert wait_for(lambda: any(reason.startswith("fatal") for reason in listener.reconnect_reasons), timeout=3)
    time.sleep(1.0)
    assert listener.connections == 1 and len(sim.registers) == 1  # waiting, not hammering
