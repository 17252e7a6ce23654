"""Session tokens (issued by the operator API's session launch), /user/profile, /user/balance."""

import time
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from tests.factories import api_client, fund, make_player
from wallet.betsy import conf, tokens
from wallet.betsy.protocol import BetsyError, Code
from wallet.services.players import player_set_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return api_client(scopes=("players", "sessions"))


# --- Tokens -----------------------------------------------------------------------------------


def test_token_is_opaque_short_and_bound(alice):
    assert 10 <= len(alice.token) <= 64
    assert "alice" not in alice.token
    claims = tokens.verify(alice.token, external_id="alice", currency="USD")
    assert (claims.player_id, claims.currency) == (alice.player.pk, "USD")


def test_the_token_mac_is_django_s_salted_hmac():
    """The keyed-once MAC (copied per token) is salted_hmac's, on every copy."""
    from django.utils.crypto import salted_hmac

    from wallet.betsy.protocol import b64url

    for issued in (1, 2):
        message = f"7|ext-7|EUR|{issued}".encode()
        expected = b64url(salted_hmac(tokens.SALT, message, secret="s3cret", algorithm="sha256").digest()[:16])
        assert tokens._mac(7, "ext-7", "EUR", issued, "s3cret") == expected


def test_longest_token_fits_betsy_limit():
    token = tokens.issue(player_id=2**63 - 1, external_id="x" * 64, currency="USDT", now=2**40)
    assert len(token) <= 64


@pytest.mark.parametrize(
    ("external_id", "currency", "code"),
    [("bob", "USD", Code.INVALID_TOKEN), ("alice", "EUR", Code.INVALID_TOKEN)],
)
def test_token_of_another_player_or_currency_is_invalid(alice, external_id, currency, code):
    with pytest.raises(BetsyError) as caught:
        tokens.verify(alice.token, external_id=external_id, currency=currency)
    assert caught.value.code == code


def test_token_expires(alice, monkeypatch):
    issued = int(time.time()) - conf.TOKEN_TTL_SECONDS - 1
    old = tokens.issue(player_id=alice.player.pk, external_id="alice", currency="USD", now=issued)
    with pytest.raises(BetsyError) as caught:
        tokens.verify(old, external_id="alice")
    assert caught.value.code == Code.TOKEN_EXPIRED
    monkeypatch.setattr(conf, "TOKEN_TTL_SECONDS", conf.TOKEN_TTL_SECONDS + 10)
    tokens.verify(old, external_id="alice")


def test_expiry_never_confirms_a_forgery(alice):
    issued = int(time.time()) - conf.TOKEN_TTL_SECONDS - 1
    old = tokens.issue(player_id=alice.player.pk, external_id="alice", currency="USD", now=issued)
    forged = old[:-1] + ("A" if old[-1] != "A" else "B")
    with pytest.raises(BetsyError) as caught:
        tokens.verify(forged, external_id="alice")
    assert caught.value.code == Code.INVALID_TOKEN


@pytest.mark.parametrize("token", ["", "short", "1.USD.abc.", "1.usd.abc." + "A" * 22, "z" * 64])
def test_malformed_tokens_are_invalid(token):
    with pytest.raises(BetsyError) as caught:
        tokens.verify(token, external_id="alice")
    assert caught.value.code == Code.INVALID_TOKEN


def test_token_from_the_future_is_invalid(alice):
    future = tokens.issue(player_id=alice.player.pk, external_id="alice", currency="USD", now=int(time.time()) + 3600)
    with pytest.raises(BetsyError):
        tokens.verify(future, external_id="alice")


def test_token_survives_secret_key_rotation(alice, settings):
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-for-touchline-rotation-test"
    settings.SECRET_KEY_FALLBACKS = [old_key]
    tokens.verify(alice.token, external_id="alice")
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(BetsyError):
        tokens.verify(alice.token, external_id="alice")


def _refusal(token, **kwargs):
    try:
        return "ok", tokens.verify(token, **kwargs)
    except BetsyError as error:
        return "refused", (error.code, error.message)


def test_a_token_checked_before_is_checked_the_same_again(alice, settings, monkeypatch):
    """The memory of genuine tokens (issue #18) changes no answer: currency, expiry and the key
    are checked on every use, a forged token is never kept."""
    monkeypatch.setattr(tokens, "_genuine", {})
    forged = alice.token[:-1] + ("A" if alice.token[-1] != "A" else "B")
    now = int(time.time())
    cases = [
        (alice.token, {"external_id": "alice"}),
        (alice.token, {"external_id": "alice", "currency": "USD"}),
        (alice.token, {"external_id": "alice", "currency": "EUR"}),
        (alice.token, {"external_id": "bob"}),
        (alice.token, {"external_id": "alice", "now": now + conf.TOKEN_TTL_SECONDS + 5}),
        (alice.token, {"external_id": "alice", "now": now - 3600}),
        (forged, {"external_id": "alice"}),
    ]
    first = [_refusal(token, **kwargs) for token, kwargs in cases]
    assert [outcome for outcome, _ in first] == ["ok", "ok", "refused", "refused", "refused", "refused", "refused"]
    assert first[4][1][0] == Code.TOKEN_EXPIRED
    assert list(tokens._genuine) == [(alice.token, "alice", settings.SECRET_KEY)]
    assert [_refusal(token, **kwargs) for token, kwargs in cases] == first

    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-for-touchline-rotation-test"
    settings.SECRET_KEY_FALLBACKS = []
    assert _refusal(alice.token, external_id="alice")[0] == "refused"  # the memory is per key
    settings.SECRET_KEY = old_key


def test_the_memory_of_genuine_tokens_is_bounded(monkeypatch):
    monkeypatch.setattr(tokens, "_genuine", {})
    monkeypatch.setattr(tokens, "_GENUINE_KEPT", 3)
    for player_id in range(1, 10):
        token = tokens.issue(player_id=player_id, external_id=f"p{player_id}", currency="USD")
        assert tokens.verify(token, external_id=f"p{player_id}").player_id == player_id
        assert len(tokens._genuine) <= 3


# --- Session launch through the operator API ------------------------------------------------------


def test_session_launch_returns_token_and_iframe(operator, settings):
    settings.BETSY_IFRAME_URL = "https://sportsbook.example/iframe"
    carol = make_player("carol", currencies=("USD",))
    response = operator.post("/api/operator/players/carol/sessions/betsy/", {"language": "de"}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["currency"] == "USD" and data["provider"] == "betsy"
    assert data["iframe"] == {
        "url": "https://sportsbook.example/iframe",
        "token": data["token"],
        "lang": "de",
        "currency": "USD",
    }
    assert tokens.verify(data["token"], external_id="carol", currency="USD").player_id == carol.pk


def test_session_launch_needs_a_currency_when_several(operator):
    make_player("dave", currencies=("USD", "EUR"))
    assert operator.post("/api/operator/players/dave/sessions/betsy/", {}, format="json").status_code == 400
    response = operator.post("/api/operator/players/dave/sessions/betsy/", {"currency": "EUR"}, format="json")
    assert response.json()["currency"] == "EUR"
    response = operator.post("/api/operator/players/dave/sessions/betsy/", {"currency": "GBP"}, format="json")
    assert response.status_code == 400


def test_no_session_for_a_blocked_player(operator):
    erin = make_player("erin", currencies=("USD",))
    player_set_status(player=erin, status="blocked", reason="test", actor_id=None)
    assert operator.post("/api/operator/players/erin/sessions/betsy/", {}, format="json").status_code == 422


def test_session_launch_needs_operator_auth():
    make_player("frank", currencies=("USD",))
    assert APIClient().post("/api/operator/players/frank/sessions/betsy/", {}, format="json").status_code == 401


# --- /user/profile and /user/balance -----------------------------------------------------------------


def test_profile(betsy):
    grace = make_player("grace", currencies=("EUR",), nickname="Gracie", country="MT", is_test=True)
    token = tokens.issue(player_id=grace.pk, external_id="grace", currency="EUR")
    reply = betsy.profile(token)
    assert reply.status == 200
    assert reply.data == {
        "userId": "grace",
        "currency": "EUR",
        "currencies": ["EUR"],
        "isTest": True,
        "customFields": {
            "isCashOutAllowed": True,
            "userStatus": "active",
            "nickname": "Gracie",
            "userCountry": "MT",
            "isVerified": False,
        },
    }


def test_profile_tells_the_iframe_the_players_age_and_identity_check(betsy):
    import datetime

    from wallet.models import Player

    ida = make_player("ida", currencies=("EUR",))
    Player.objects.filter(pk=ida.pk).update(
        date_of_birth=datetime.date(1990, 2, 28), verification=Player.Verification.VERIFIED
    )
    custom = betsy.profile(tokens.issue(player_id=ida.pk, external_id="ida", currency="EUR")).data["customFields"]
    assert custom["birthday"] == "1990-02-28" and custom["isVerified"] is True
    Player.objects.filter(pk=ida.pk).update(verification=Player.Verification.FAILED)
    custom = betsy.profile(tokens.issue(player_id=ida.pk, external_id="ida", currency="EUR")).data["customFields"]
    assert custom["isVerified"] is False


def test_profile_with_a_bad_or_expired_token(betsy, alice):
    assert betsy.profile("A" * 30).data["code"] == 3
    ghost = tokens.issue(player_id=alice.player.pk + 1000, external_id="ghost", currency="USD")
    assert betsy.profile(ghost).data["code"] == 3
    old = tokens.issue(player_id=alice.player.pk, external_id="alice", currency="USD", now=1_000_000_000)
    assert betsy.profile(old).data["code"] == 4


def test_balance_is_real_plus_bonus_with_a_dot(betsy):
    henry = make_player("henry", currencies=("EUR",))
    fund(henry, "12.5", "EUR", bonus="3")
    token = tokens.issue(player_id=henry.pk, external_id="henry", currency="EUR")
    reply = betsy.balance("henry", "EUR", token)
    assert reply.status == 200
    assert reply.body == b'{"userId":"henry","currency":"EUR","amount":15.50}'


def test_balance_of_a_blocked_player_still_answers(betsy, alice):
    player_set_status(player=alice.player, status="blocked", reason="test", actor_id=None)
    assert betsy.balance("alice", "USD", alice.token).data["amount"] == Decimal("20.00")


@pytest.mark.parametrize(
    ("user_id", "currency", "code"),
    [("bob", "USD", 3), ("alice", "EUR", 3), ("nobody", "USD", 3), ("alice", "XXX", 5)],
)
def test_balance_refused_for_another_player_or_currency(betsy, alice, bob, user_id, currency, code):
    assert betsy.balance(user_id, currency, alice.token).data["code"] == code


def test_balance_with_an_expired_token(betsy, alice):
    old = tokens.issue(player_id=alice.player.pk, external_id="alice", currency="USD", now=1_000_000_000)
    assert betsy.balance("alice", "USD", old).data["code"] == 4
