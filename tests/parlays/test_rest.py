"""The REST client: sessions are scarce, so log in once, refresh, and never log in in a loop."""

from decimal import Decimal

import httpx
import pytest

from parlays.protocol.errors import LoginCooldown, ProphetXAPIError
from parlays.protocol.jsonio import dumps, loads
from parlays.protocol.rest import ProphetXClient
from parlays.simulator import ProphetXSimulator, make_games


@pytest.fixture(scope="module")
def sim():
    with ProphetXSimulator(games=make_games(3), health_interval_s=60) as simulator:
        yield simulator


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(sim, **kwargs) -> ProphetXClient:
    return ProphetXClient(sim.rest_url, sim.access_key, sim.secret_key, **kwargs)


def test_login_once_then_reuse_the_token(sim):
    before = sim.logins
    client = client_for(sim)
    assert client.get_balance() == Decimal("10000.00")
    client.get_tournaments()
    client.connection_config()
    assert sim.logins - before == 1 and client.logins == 1


def test_refresh_before_expiry_not_login(sim):
    clock = Clock()
    client = client_for(sim, clock=clock, refresh_every_s=480)
    client.get_balance()
    clock.now += 481
    client.get_balance()
    clock.now += 481
    client.get_balance()
    assert (client.logins, client.refreshes) == (1, 2)


def test_401_refreshes_and_retries_once(sim):
    client = client_for(sim)
    client.get_balance()
    sim.tokens.clear()  # ProphetX forgot our access token
    assert client.get_balance() == Decimal("10000.00")
    assert (client.logins, client.refreshes) == (1, 1)


def test_failed_login_starts_a_cooldown(sim):
    before = sim.logins
    clock = Clock()
    client = ProphetXClient(sim.rest_url, sim.access_key, "wrong", clock=clock)
    with pytest.raises(ProphetXAPIError) as first:
        client.get_balance()
    assert first.value.status == 401
    with pytest.raises(LoginCooldown):
        client.get_balance()  # refused locally: no second login attempt
    assert client.logins == 1 and sim.logins == before


def test_session_limit_means_a_long_cooldown(sim):
    clock = Clock()
    limited = ProphetXSimulator(games=make_games(1), max_sessions=0, health_interval_s=60).start()
    try:
        client = ProphetXClient(
            limited.rest_url, limited.access_key, limited.secret_key, clock=clock, login_cooldown_s=600
        )
        with pytest.raises(ProphetXAPIError) as error:
            client.get_balance()
        assert error.value.code == "session_num_exceed"
        clock.now += 300
        with pytest.raises(LoginCooldown):
            client.get_balance()
        assert client.logins == 1
    finally:
        limited.stop()


def test_reference_data(sim):
    client = client_for(sim)
    (tournament,) = client.get_tournaments()
    events = client.get_sport_events(tournament["id"])
    assert len(events) == 3
    markets = client.get_multiple_markets([e["event_id"] for e in events])
    assert set(markets) == {e["event_id"] for e in events}
    assert client.get_markets(events[0]["event_id"])[0]["type"] == "moneyline"


def test_supported_lines_in_batches_of_1000(sim):
    client = client_for(sim)
    ids = [f"{i:032x}" for i in range(2500)]
    sim.supported_calls.clear()
    client.add_supported_lines(ids)
    assert sim.supported_calls == [("POST", 1000), ("POST", 1000), ("POST", 500)]
    assert len(client.list_supported_lines()) == 2500  # paged GETs of 100
    client.remove_supported_lines(ids[:1200])
    assert sim.supported_calls[-2:] == [("DELETE", 1000), ("DELETE", 200)]
    assert len(client.list_supported_lines()) == 1300


def _mock(handler):
    def transport(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/partner/auth/login":
            return httpx.Response(
                200,
                content=dumps({"data": {"access_token": "t", "refresh_token": "r", "access_expire_time": 9999999999}}),
            )
        return handler(request)

    return httpx.MockTransport(transport)


def test_order_listing_pages_and_both_vocabularies():
    pages = {
        None: {
            "orders": [
                {
                    "order_uuid": "01977e64-756b-7a75-b218-f0a0e4032004",
                    "parlay_id": "23851166-3e18-4b3c-aea7-16de1b114bb8",
                    "status": "finalized",
                    "confirmed_odds": -1774,
                    "confirmed_stake": Decimal("1349.049722844427"),
                }
            ],
            "token": "p2",
        },
        "p2": {
            "orders": [
                {
                    "order_uuid": "01991588-274d-70be-ac0a-cf876677d57f",
                    "parlay_id": "fdd7e3fb-ef50-42eb-9d73-43d3d7f1390f",
                    "status": "settled",
                    "settlement_status": "loss",
                    "confirmed_price": -300,
                    "confirmed_quantity": 50,
                    "profit": Decimal("-50"),
                }
            ],
            "token": "",
        },
    }

    def handler(request):
        assert request.url.path == "/parlay/sp/orders/"
        assert request.headers["authorization"] == "Bearer t"
        return httpx.Response(200, content=dumps({"data": pages[request.url.params.get("token")]}))

    client = ProphetXClient("https://px.test", "a", "s", transport=_mock(handler))
    first, second = client.list_orders()
    assert (first.confirmed_odds, first.confirmed_stake) == (-1774, Decimal("1349.05"))
    assert (second.settlement_status, second.confirmed_odds, second.confirmed_stake, second.profit) == (
        "lost",
        -300,
        Decimal("50.00"),
        Decimal("-50.00"),
    )


def test_cftc_vocabulary_uses_v2_paths_and_header():
    seen = []

    def handler(request):
        seen.append((request.url.path, request.headers.get("x-cftc-terminology"), loads(request.content or b"{}")))
        return httpx.Response(200, content=b'{"data": {"success": true}}')

    client = ProphetXClient("https://px.test/", "a", "s", transport=_mock(handler), vocabulary="cftc")
    client.add_supported_lines(["a" * 32])
    assert seen == [("/parlay/sp/v2/supported-strikes", "true", {"supported_strikes": ["a" * 32]})]


def test_errors_carry_prophetx_codes():
    def handler(request):
        return httpx.Response(429, content=b'{"error_code": "rate_limit_reached"}')

    client = ProphetXClient("https://px.test", "a", "s", transport=_mock(handler))
    with pytest.raises(ProphetXAPIError) as error:
        client.get_balance()
    assert (error.value.status, error.value.code) == (429, "rate_limit_reached")
