"""The direct callback routes' request signals (config/request_signals.py): Django's receivers'
work done directly while they are the only receivers, the signals sent as soon as anything else
listens, and the same outcome for the database connection either way."""

from __future__ import annotations

import threading
import time

import django
import pytest
from django.core import signals
from django.db import connection, connections

from config import request_signals
from tests.test_wsgi import SECRET, call
from wallet import rows
from wallet.igpx.protocol import sign


def _callback() -> str:
    status, _, _ = call("/api/igpx/transaction", b"{}", {"X-Security-Hash": sign(b"{}", SECRET)})
    return status


@pytest.fixture
def listener():
    """Connect a receiver of our own to both signals: the routes must then send them."""
    seen: list[str] = []

    def on_started(**kwargs):
        seen.append("started")

    def on_finished(**kwargs):
        seen.append("finished")

    signals.request_started.connect(on_started)
    signals.request_finished.connect(on_finished)
    yield seen
    signals.request_started.disconnect(on_started)
    signals.request_finished.disconnect(on_finished)


def test_the_project_connects_no_receiver_of_its_own():
    """If this fails, a receiver was added to a request signal: the routes now send the signals
    on every callback (correct, but a sixth of a callback's CPU); keep it only on purpose. If
    only the Django version differs, reread Django's receivers and move DJANGO_READ."""
    assert request_signals.DJANGO_READ == django.VERSION[:2]
    assert request_signals.SHORTCUT
    assert request_signals._only_djangos(signals.request_started, request_signals.DJANGOS_STARTED)
    assert request_signals._only_djangos(signals.request_finished, request_signals.DJANGOS_FINISHED)


@pytest.mark.django_db(transaction=True)
def test_with_only_djangos_receivers_no_signal_is_sent(settings, monkeypatch):
    settings.IGPX_SECURITY_HASH = SECRET

    def refuse(*args, **kwargs):
        raise AssertionError("the signal was sent")

    monkeypatch.setattr(signals.request_started, "send", refuse)
    monkeypatch.setattr(signals.request_finished, "send", refuse)
    assert _callback() == "200 OK"


@pytest.mark.django_db(transaction=True)
def test_any_other_receiver_gets_the_signals(settings, listener):
    settings.IGPX_SECURITY_HASH = SECRET
    assert _callback() == "200 OK"
    assert listener == ["started", "finished"]


@pytest.fixture(params=[False, True], ids=["shortcut", "signals"])
def either_way(request, settings, postgres_only):
    """Each connection test twice: with Django's receivers alone (the shortcut), and with a
    receiver of ours connected (the signals sent). PostgreSQL: Django never closes the suite's
    in-memory SQLite database."""
    if request.param:
        request.getfixturevalue("listener")
    settings.IGPX_SECURITY_HASH = SECRET
    connection.ensure_connection()


@pytest.mark.django_db(transaction=True)
def test_an_aged_connection_is_replaced_and_the_query_log_cleared(either_way):
    aged = connection.connection
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    connection.queries_log.append({"sql": "SELECT 1", "time": "0.000"})
    assert _callback() == "200 OK"
    assert connection.connection is not aged and aged.closed  # closed at the start, a new one for the callback
    assert not connection.queries_log


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_broke_during_the_request_is_closed_at_its_end(either_way):
    connection.close_at = None
    broken = connection.connection
    broken.close()  # as if the server went away; Django marks errors_occurred when a statement fails
    connection.errors_occurred = True
    request_signals.finished(object)
    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_a_healthy_connection_is_kept(settings, postgres_only):
    settings.IGPX_SECURITY_HASH = SECRET
    connection.ensure_connection()
    connection.close_at = None  # no maximum age
    kept = connection.connection
    assert _callback() == "200 OK"
    assert connection.connection is kept


@pytest.mark.django_db(transaction=True)
def test_initialized_db_is_none_in_a_thread_that_has_not_connected():
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(rows.initialized_db()))
    thread.start()
    thread.join()
    assert found == [None]
    connection.ensure_connection()
    assert rows.initialized_db() is rows.db() is connections["default"]
