"""The demo thread and the management commands, end to end."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections

from crm import demo
from crm.models import OutboxEvent
from tests.crm.conftest import API_KEY, SELECTION, place, rows
from tests.factories import fund, make_player


@pytest.mark.django_db(transaction=True)
def test_demo_exports_a_non_test_players_bets_to_the_simulator(postgres_only):
    # PostgreSQL only: two threads on pytest's shared-cache in-memory SQLite lock each other's
    # tables, which says nothing about the demo's real file database.
    stop = threading.Event()

    def run():
        try:
            demo.run_demo("http://127.0.0.1:8000", stop, interval=0.05)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and OutboxEvent.objects.filter(status="delivered").count() < 6:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
    delivered = OutboxEvent.objects.filter(status="delivered", player__external_id=demo.PLAYER)
    assert delivered.count() >= 6
    assert not OutboxEvent.objects.filter(status="dead").exists()


@pytest.mark.django_db
def test_crm_deliver_once_and_status(settings, simulator):
    alice = make_player("alice")
    fund(alice, "10")
    place(alice, "1.00", "b-1", odds=Decimal("2"), selections=[SELECTION])
    out = StringIO()
    call_command("crm_deliver", "--status", stdout=out)
    assert json.loads(out.getvalue())["pending"] == 1

    settings.FASTTRACK_API_URL, settings.FASTTRACK_API_KEY = simulator.url, API_KEY
    out = StringIO()
    call_command("crm_deliver", "--once", "--transport", "rest", stdout=out)
    assert "delivered 1" in out.getvalue()
    assert rows()[0].status == OutboxEvent.Status.DELIVERED


def test_crm_deliver_refuses_when_off():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="off"):
        call_command("crm_deliver", "--once")
