"""The provider simulator's traffic, the demo and the igpx_simulate command, end to end."""

import io
import threading
import time

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connections

from tests.factories import fund, make_player
from wallet.igpx import demo
from wallet.igpx.simulator import ProviderSimulator, SimPlayer
from wallet.models import Bet, Settlement

from .conftest import SECRET


@pytest.fixture
def in_process_http(igpx_secret):
    """httpx straight into Django's WSGI handler, on the test's own transaction."""
    # As django.test.Client does: a request must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    client = httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler()), base_url="http://testserver")
    yield client
    client.close()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_simulated_traffic_follows_the_protocol(in_process_http):
    players = [SimPlayer("sim-1", "EUR"), SimPlayer("sim-2", "USD"), SimPlayer("sim-3", "JPY")]
    for sim in players:
        fund(make_player(sim.user_id, currencies=(sim.currency,)), "300", currency=sim.currency)
    simulator = ProviderSimulator(
        base_url="http://testserver", secret=SECRET, players=players, rate=0, seed=11, http=in_process_http
    )
    stats = simulator.run(max_requests=250)
    assert stats.anomalies == []
    assert set(stats.scenarios) == {name for name, _ in ProviderSimulator.SCENARIOS}
    assert stats.outcomes["BET_ROLLED_BACK"] == stats.scenarios["rollback_before_bet"]
    assert Bet.objects.filter(status="rolled_back").exists()
    assert Settlement.objects.filter(kind="result").exists()
    # (tests/conftest.py then proves the ledger sound.)


@pytest.mark.django_db
def test_simulator_reports_a_wrong_secret_as_anomalies(in_process_http):
    fund(make_player("sim-1"), "50")
    simulator = ProviderSimulator(
        base_url="http://testserver",
        secret="wrong",
        players=[SimPlayer("sim-1", "EUR")],
        rate=0,
        seed=1,
        http=in_process_http,
    )
    simulator.run(max_requests=5)
    assert simulator.stats.outcomes["INVALID_SIGNATURE"] >= 1


@pytest.mark.django_db(transaction=True)
def test_demo_and_command_against_a_live_server(live_server, igpx_secret, monkeypatch):
    monkeypatch.setattr(demo, "RATE", 0.0)
    stop = threading.Event()

    def run() -> None:
        try:
            demo.run_demo(live_server.url, stop)
        finally:
            connections.close_all()  # else its persistent connection outlives the thread and the test database

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 20
    while Bet.objects.count() < 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert Bet.objects.filter(player__external_id__startswith="igpx-demo-").count() >= 10

    out = io.StringIO()
    call_command(
        "igpx_simulate", "--base-url", live_server.url, "--rate", "0", "--count", "30", "--seed", "3", stdout=out
    )
    assert "done: " in out.getvalue() and "anomalies=0" in out.getvalue()
