"""The IGPX client against the fake IGPX API: tokens, refresh, 401, retries, session launch."""

import logging

import pytest

from tests.factories import api_client, make_player
from wallet.igpx import client as igpx_client
from wallet.igpx.client import IgpxClient, IgpxUnavailable
from wallet.igpx.simulator import FakeIgpxApi
from wallet.services.players import player_set_status

PASSWORD = "s3cr3t-pa55word"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake():
    with FakeIgpxApi(username="touchline", password=PASSWORD, expires_in="100") as api:
        yield api


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(fake, clock, sleeps):
    made = []

    def make(**kwargs) -> IgpxClient:
        options = {
            "base_url": fake.base_url,
            "version": "v1",
            "username": "touchline",
            "password": PASSWORD,
            "clock": clock,
            "sleep": sleeps.append,
            "attempts": 3,
            "backoff": 0.01,
            **kwargs,
        }
        made.append(IgpxClient(**options))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_auth_then_start_session_returns_the_iframe_url(fake, make_client):
    url = make_client().start_session(user_id="42", currency="EUR", lang="es")
    assert url.startswith(fake.base_url + "/sportsbook?session=") and url.endswith("lang=es")
    assert fake.sessions[0]["user_id"] == "42" and fake.sessions[0]["currency"] == "EUR"
    assert fake.requests == [("/v1/auth", 200), ("/v1/start-session", 200)]


def test_token_is_cached_and_refreshed_after_80_percent_of_its_life(fake, make_client, clock):
    client = make_client()
    client.start_session(user_id="42", currency="EUR")
    clock.now += 79  # expires_in "100": still fresh
    client.start_session(user_id="42", currency="EUR")
    assert fake.auth_calls == 1
    clock.now += 2  # 81 s: past 80%, refresh before the provider expires it
    client.start_session(user_id="42", currency="EUR")
    assert fake.auth_calls == 2 and fake.session_calls == 3


def test_expires_in_may_be_a_number(fake, make_client, clock):
    fake.expires_in = 10
    client = make_client()
    client.start_session(user_id="42", currency="EUR")
    clock.now += 7.9
    client.start_session(user_id="42", currency="EUR")
    assert fake.auth_calls == 1
    clock.now += 0.2
    client.start_session(user_id="42", currency="EUR")
    assert fake.auth_calls == 2


def test_a_401_re_authenticates_once(fake, make_client):
    client = make_client()
    client.start_session(user_id="42", currency="EUR")
    fake.revoke_tokens()  # the provider dropped our token early
    assert client.start_session(user_id="42", currency="EUR")
    assert fake.auth_calls == 2
    assert [status for _, status in fake.requests] == [200, 200, 401, 200, 200]


def test_a_second_401_is_reported_not_looped(fake, make_client):
    client = make_client()
    fake.fail_next(5, 401, path="/start-session")
    with pytest.raises(IgpxUnavailable, match="refused a fresh token"):
        client.start_session(user_id="42", currency="EUR")
    assert [path for path, _ in fake.requests] == ["/v1/auth", "/v1/start-session", "/v1/auth", "/v1/start-session"]


def test_bad_credentials_are_not_retried(fake, make_client):
    with pytest.raises(IgpxUnavailable, match="refused our credentials"):
        make_client(password="wrong").start_session(user_id="42", currency="EUR")
    assert fake.auth_calls == 1


def test_5xx_is_retried_with_backoff(fake, make_client, sleeps):
    fake.fail_next(2, 503, path="/start-session")
    assert make_client().start_session(user_id="42", currency="EUR")
    assert [status for _, status in fake.requests] == [200, 503, 503, 200]
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]


def test_network_errors_are_retried(fake, make_client, sleeps):
    fake.drop_next(2, path="/auth")
    assert make_client().start_session(user_id="42", currency="EUR")
    assert len(sleeps) == 2


def test_retries_give_up_with_a_clear_error(fake, make_client):
    fake.fail_next(10, 502)
    with pytest.raises(IgpxUnavailable) as error:
        make_client().start_session(user_id="42", currency="EUR")
    assert "auth" in error.value.message and "3 attempts" in error.value.message and "HTTP 502" in error.value.message


def test_unreachable_provider(make_client, sleeps):
    client = make_client(base_url="http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(IgpxUnavailable, match="ConnectError"):
        client.start_session(user_id="42", currency="EUR")
    assert len(sleeps) == 2


def test_a_4xx_is_not_retried(fake, make_client):
    fake.fail_next(1, 400, path="/start-session")
    with pytest.raises(IgpxUnavailable, match="HTTP 400"):
        make_client().start_session(user_id="42", currency="EUR")
    assert [status for _, status in fake.requests] == [200, 400]


def test_secrets_never_reach_logs_or_errors(fake, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client()
    client.start_session(user_id="42", currency="EUR")
    token = client.token()
    fake.revoke_tokens()
    fake.fail_next(1, 503)
    client.start_session(user_id="42", currency="EUR")
    with pytest.raises(IgpxUnavailable) as error:
        make_client(password=PASSWORD + "x").start_session(user_id="42", currency="EUR")
    text = caplog.text + str(error.value)
    assert PASSWORD not in text and token not in text
    assert "igpx start-session" in caplog.text  # it does log, just not the secrets


# --- Session launch through the operator API ---------------------------------------------------


# The django_db mark, not the `db` fixture: tests/conftest.py's ledger check runs at teardown
# and needs the database still open.
operator_test = pytest.mark.django_db


@pytest.fixture
def operator():
    return api_client(scopes=("players", "sessions"))


@pytest.fixture
def configured(settings, fake):
    settings.IGPX_API_URL = fake.base_url
    settings.IGPX_API_VERSION = "v1"
    settings.IGPX_USERNAME = "touchline"
    settings.IGPX_PASSWORD = PASSWORD
    igpx_client.reset_client()
    yield fake
    igpx_client.reset_client()


@operator_test
def test_operator_launches_an_igpx_session(operator, configured):
    make_player("alice", currencies=("USD", "EUR"))
    response = operator.post(
        "/api/operator/players/alice/sessions/igpx/", {"currency": "EUR", "lang": "fr"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["provider"] == "igpx" and body["url"].startswith(configured.base_url)
    assert configured.sessions[-1] == {**configured.sessions[-1], "user_id": "alice", "currency": "EUR", "lang": "fr"}
    # Without a currency: the player's first wallet.
    assert operator.post("/api/operator/players/alice/sessions/igpx/").json()["currency"] == "USD"
    assert configured.auth_calls == 1  # one token for the process


@pytest.mark.parametrize(
    ("options", "code"),
    [({"currency": "GBP"}, "currency_mismatch"), ({"lang": 5}, "invalid_request")],
)
@operator_test
def test_operator_session_refusals(operator, configured, options, code):
    make_player("alice")
    response = operator.post("/api/operator/players/alice/sessions/igpx/", options, format="json")
    assert response.status_code in (400, 422) and response.json()["error"]["code"] == code
    assert configured.session_calls == 0


@operator_test
def test_blocked_player_gets_no_session(operator, configured):
    alice = make_player("alice")
    player_set_status(player=alice, status="self_excluded", reason="asked", actor_id=None)
    response = operator.post("/api/operator/players/alice/sessions/igpx/")
    assert response.json()["error"]["code"] == "player_self_excluded"


@operator_test
def test_provider_down_is_reported_as_unavailable(operator, configured, monkeypatch):
    make_player("alice")
    monkeypatch.setattr(igpx_client.conf, "BACKOFF_MS", 0)
    igpx_client.reset_client()
    configured.fail_next(10, 503)
    response = operator.post("/api/operator/players/alice/sessions/igpx/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "sportsbook_unavailable"


@operator_test
def test_no_api_url_falls_back_to_the_built_in_fake(operator, settings):
    settings.IGPX_API_URL = ""
    igpx_client.reset_client()
    make_player("alice")
    response = operator.post("/api/operator/players/alice/sessions/igpx/")
    assert response.status_code == 200 and "/sportsbook?session=" in response.json()["url"]
    igpx_client.reset_client()
