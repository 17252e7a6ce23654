"""After PostgreSQL restarts (or kills a backend), the next request is served on a new connection:
a connection the server closed is replaced before a transaction or a statement starts on it,
with persistent connections and with the psycopg pool. And the operator API answers a database
it cannot reach in its own JSON format, never with Django's HTML page.

The servers' side is real: `pg_terminate_backend` closes the connection between two requests,
exactly what a restart does to every idle connection."""

from __future__ import annotations

import copy
import json
import logging

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from config.postgresql.base import DatabaseWrapper, server_closed
from tests.factories import api_client, fund, make_player
from tests.waiting import wait_for
from tests.wallet.igpx.conftest import SECRET, Provider
from wallet.models import Player

postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL backends")


def _admin() -> psycopg.Connection:
    params = connection.get_connection_params()
    params = {k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")}
    return psycopg.connect(**params, autocommit=True)


def terminate(pid: int) -> None:
    """Close one backend as a restart would, and wait until its client can tell."""
    with _admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        wait_for(
            lambda: admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0] == 0
        )


def backend_pid(wrapper=connection) -> int:
    wrapper.ensure_connection()
    return wrapper.connection.info.backend_pid


@pytest.fixture
def api():
    return api_client(scopes=("read",))


@postgres
@pytest.mark.django_db(transaction=True)
def test_the_operator_api_serves_the_request_after_its_connection_was_terminated(api):
    make_player("alice")
    assert api.get("/api/operator/players/alice/").status_code == 200
    before = backend_pid()

    terminate(before)
    wait_for(lambda: server_closed(connection.connection))

    response = api.get("/api/operator/players/alice/")
    assert response.status_code == 200, response.content
    assert backend_pid() != before


@postgres
@pytest.mark.django_db(transaction=True)
def test_a_callback_after_a_restart_is_not_declined(client, settings):
    """The money transaction starts on a fresh connection: the bet goes through."""
    settings.IGPX_SECURITY_HASH = SECRET
    provider = Provider(client)
    alice = make_player("alice")
    fund(alice, "100.00")
    assert provider.bet("b-1", "1.00").error is None

    terminate(backend_pid())
    assert provider.bet("b-2", "1.00").error is None
    assert provider.bet("b-2", "1.00").error is None  # and its retry is the same answer


@postgres
@pytest.mark.django_db(transaction=True)
def test_a_transaction_starting_on_a_closed_connection_gets_a_new_one():
    Player.objects.exists()
    before = backend_pid()
    terminate(before)
    with transaction.atomic():
        make_player("after-restart")
    assert Player.objects.filter(external_id="after-restart").exists()
    assert backend_pid() != before


@postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_that_dies_inside_a_transaction_still_fails_it():
    """Work already done on the dead connection cannot be replayed here: the caller retries."""
    with pytest.raises(OperationalError), transaction.atomic():
        make_player("lost")
        terminate(backend_pid())
        Player.objects.count()
    connection.close()
    assert not Player.objects.filter(external_id="lost").exists()


@postgres
@pytest.mark.django_db(transaction=True)
def test_the_pool_replaces_a_connection_the_server_closed():
    settings_dict = copy.deepcopy(connection.settings_dict)
    # A pool of one: it cannot hand out a second connection while it is still resetting ours.
    settings_dict["OPTIONS"]["pool"] = {"min_size": 1, "max_size": 1, "timeout": 5}
    settings_dict["CONN_MAX_AGE"] = 0
    pooled = DatabaseWrapper(settings_dict, alias="resilience_pool")
    try:
        first = backend_pid(pooled)
        pooled.close()  # back to the pool, which keeps it for the next request
        assert backend_pid(pooled) == first
        pooled.close()

        terminate(first)
        with pooled.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (second,) = cursor.fetchone()
        assert second != first
    finally:
        pooled.close()
        pooled.close_pool()


def test_the_operator_api_answers_a_database_outage_in_json(db, api, monkeypatch, caplog):
    from wallet import selectors

    def unreachable(*args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    make_player("alice")
    monkeypatch.setattr(selectors, "player_get", unreachable)
    response = api.get("/api/operator/players/alice/")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response["Retry-After"] == "1"
    for _ in range(20):
        assert api.get("/api/operator/players/alice/").status_code == 503
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 1  # not a line per request


def test_an_unexpected_failure_in_the_api_is_a_json_500(db, api, monkeypatch):
    from wallet import selectors

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    make_player("alice")
    monkeypatch.setattr(selectors, "player_get", broken)
    response = api.get("/api/operator/players/alice/")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "Internal server error."}}


def test_a_failure_outside_the_api_views_is_still_json_under_api(db, client, monkeypatch):
    from config import ops

    monkeypatch.setattr(ops, "_check_database", lambda: 1 / 0)  # fails inside a plain Django view
    client.raise_request_exception = False
    html = client.get("/readyz")
    assert html.status_code == 503  # /readyz reports it itself

    from django.urls import path

    def boom(request):
        raise RuntimeError("middleware or view failure")

    monkeypatch.setattr("config.urls.urlpatterns", [path("api/boom", boom), path("boom", boom)])
    from django.urls import clear_url_caches

    clear_url_caches()
    try:
        response = client.get("/api/boom")
        assert response.status_code == 500 and json.loads(response.content)["error"]["code"] == "internal_error"
        assert client.get("/boom")["Content-Type"].startswith("text/html")  # the admin keeps its page
    finally:
        clear_url_caches()
