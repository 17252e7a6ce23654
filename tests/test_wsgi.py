"""The production WSGI entry point: provider callbacks through the lean stack, the rest through the full one."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

from config import wsgi
from tests.factories import balance, fund, make_player
from wallet.igpx.protocol import sign
from wallet.models import Bet

SECRET = "igpx-wsgi-secret"


def call(path: str, body: bytes, headers: dict[str, str] | None = None, app=None) -> tuple[str, dict[str, str], bytes]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (headers or {}).items()},
    }
    started: list = []
    out = b"".join((app or wsgi.application)(environ, lambda status, h: started.append((status, dict(h)))))
    return started[0][0], started[0][1], out


# transaction=True: the real handler closes the connection at the end of each request.
@pytest.mark.django_db(transaction=True)
def test_the_site_keeps_its_full_stack():
    # A cookie-less POST to the admin login is refused by CSRF.
    status, headers, _ = call("/admin/login/", b"username=a&password=b", app=wsgi.site)
    assert status.startswith("403")
    assert headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db(transaction=True)
def test_an_igpx_bet_through_the_production_entry_point(settings):
    settings.IGPX_SECURITY_HASH = SECRET
    player = make_player("wsgi-player")
    fund(player, "20")
    body = json.dumps(
        {"transaction_id": "wsgi-1", "action": "bet", "user_id": "wsgi-player", "currency": "EUR", "amount": "5"}
    ).encode()
    status, headers, out = call("/api/igpx/transaction", body, {"X-Security-Hash": sign(body, SECRET)})
    assert status == "200 OK" and headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(out))
    assert "X-Frame-Options" not in headers  # the lean stack: no clickjacking, session or CSRF middleware
    assert json.loads(out)["error"] is None
    assert Bet.objects.get(external_id="wsgi-1").stake == Decimal("5")
    assert balance(player) == Decimal("15")
    # Signature refusal, in the provider's format, through the same stack.
    status, _, out = call("/api/igpx/transaction", body, {"X-Security-Hash": "0" * 64})
    assert status == "200 OK" and json.loads(out)["error"] == "INVALID_SIGNATURE"


# --- The IGPX paths skip Django's request cycle (config/wsgi.py DIRECT): same answers ---------


def _via_django(client, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    response = client.post(path, body, content_type="application/json", headers=headers)
    assert response.status_code == 200
    return response.content


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "body", "signed"),
    [
        ("/api/igpx/transaction", b"{not json", True),
        ("/api/igpx/transaction", b'{"transaction_id":"x","action":"bet"}', True),
        (
            "/api/igpx/transaction",
            b'{"transaction_id":"x","action":"bet","user_id":"nobody","currency":"EUR","amount":"1"}',
            True,
        ),
        (
            "/api/igpx/transaction",
            b'{"transaction_id":"x","action":"bet","user_id":"u","currency":"EUR","amount":"-1"}',
            True,
        ),
        (
            "/api/igpx/transaction",
            b'{"transaction_id":"x","action":"bet","user_id":"u","currency":"EUR","amount":"1"}',
            False,
        ),
        ("/api/igpx/transaction-rollback", b'{"transaction_id":"y","action":"rollback"}', True),
    ],
)
def test_the_direct_path_answers_like_the_django_view(settings, client, path, body, signed):
    settings.IGPX_SECURITY_HASH = SECRET
    headers = {"X-Security-Hash": sign(body, SECRET) if signed else "f" * 64}
    status, response_headers, out = call(path, body, headers)
    assert status == "200 OK" and response_headers["Content-Type"] == "application/json"
    assert response_headers["X-Content-Type-Options"] == "nosniff"
    assert json.loads(out)["error"] is not None
    assert out == _via_django(client, path, body, headers)


@pytest.mark.django_db(transaction=True)
def test_the_direct_path_refuses_other_methods_and_oversized_bodies(settings):
    settings.IGPX_SECURITY_HASH = SECRET
    environ_get = call("/api/igpx/transaction", b"", {})  # POST with no body: a protocol error
    assert json.loads(environ_get[2])["error"] is not None
    started: list = []
    out = wsgi.application(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/igpx/transaction", "wsgi.input": io.BytesIO(b"")},
        lambda status, headers: started.append((status, dict(headers))),
    )
    assert started[0][0] == "405 Method Not Allowed" and started[0][1]["Allow"] == "POST"
    assert json.loads(b"".join(out)) == {"error": "INVALID_REQUEST"}  # IGPX's format, not an empty body
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = b'{"transaction_id":"big","pad":"' + b"x" * 200 + b'"}'
    status, _, out = call("/api/igpx/transaction", body, {"X-Security-Hash": sign(body, SECRET)})
    assert status == "200 OK" and json.loads(out)["error"] == "INVALID_REQUEST"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path, status",
    [("/api/igpx/transaction", "200"), ("/api/betsy/payment/bet", "400")],  # IGPX answers its errors with 200
)
def test_the_direct_routes_send_the_request_signals_and_count_metrics(settings, path, status):
    """request_started/request_finished are what close a broken or aged database connection."""
    from django.core import signals
    from prometheus_client import REGISTRY

    settings.IGPX_SECURITY_HASH = SECRET
    settings.BETSY_PARTNER_SECRET = BETSY_SECRET
    headers = _betsy_headers(b"{}") if "betsy" in path else {"X-Security-Hash": sign(b"{}", SECRET)}
    seen: list[str] = []

    def on_started(**kwargs):
        seen.append("started")

    def on_finished(**kwargs):
        seen.append("finished")

    def count() -> float:
        labels = {"route": path.lstrip("/"), "status": status}
        return REGISTRY.get_sample_value("touchline_http_requests_total", labels) or 0.0

    before = count()
    signals.request_started.connect(on_started)
    signals.request_finished.connect(on_finished)
    try:
        call(path, b"{}", headers)
    finally:
        signals.request_started.disconnect(on_started)
        signals.request_finished.disconnect(on_finished)
    assert seen == ["started", "finished"]
    assert count() == before + 1


@pytest.mark.django_db(transaction=True)
def test_a_failure_around_the_handler_is_a_500_in_the_protocol_format(settings):
    from django.core import signals

    settings.IGPX_SECURITY_HASH = SECRET

    def broken(**kwargs):
        raise RuntimeError("receiver failed")

    signals.request_started.connect(broken)
    try:
        status, _, out = call("/api/igpx/transaction", b"{}", {"X-Security-Hash": sign(b"{}", SECRET)})
    finally:
        signals.request_started.disconnect(broken)
    assert status.startswith("500") and json.loads(out)["error"] == "INTERNAL_ERROR"


# --- The callback server serves provider paths and health only (issue #21, point 4) ---------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/login/", "/api/operator/players/", "/api/docs/", "/api/schema/", "/metrics", "/"]
)
def test_the_callback_server_does_not_serve_the_site(path):
    status, headers, out = call(path, b"{}")
    assert status == "404 Not Found" and headers["Content-Type"] == "application/json"
    assert json.loads(out)["error"]["code"] == "not_found"


@pytest.mark.django_db(transaction=True)
def test_the_callback_server_answers_health_checks():
    status, _, out = call("/healthz", b"")
    assert status == "200 OK"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path",
    [
        "/api/igpx/transaction/",
        "/api/igpx//transaction",
        "/api//igpx/transaction",
        "//api/igpx/transaction",
        "/api/igpx/transaction\x00",
        "/api/igpx/",
        "/api/igpx",
        "/api/igpx/nope",
    ],
)
def test_any_other_igpx_path_is_answered_in_igpx_format(path):
    status, headers, out = call(path, b"{}")
    assert status == "404 Not Found" and headers["Content-Type"] == "application/json"
    assert json.loads(out) == {"error": "INVALID_REQUEST"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path",
    [
        "/api/betsy/payment/bet/",
        "/api/betsy//payment/bet",
        "/api//betsy/payment/bet",
        "/api/betsy/payment/bet\x00",
        "/api/betsy/",
        "/api/betsy",
        "/api/betsy/payment",
    ],
)
def test_any_other_betsy_path_is_answered_in_betsy_format(path):
    status, headers, out = call(path, b"{}")
    assert status == "404 Not Found" and headers["Content-Type"] == "application/json"
    assert json.loads(out) == {"code": 5, "message": "no such path"}
    assert "x-sign-jws" in {k.lower() for k in headers}


@pytest.mark.django_db(transaction=True)
def test_a_wrong_method_on_a_betsy_path_is_answered_in_betsy_format():
    environ_call = call("/api/betsy/payment/check", b"")
    assert environ_call[0].startswith("400")  # POST without a signature: Betsy's code 1
    started: list = []
    out = wsgi.application(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/api/betsy/payment/bet",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
        },
        lambda status, headers: started.append((status, dict(headers))),
    )
    assert started[0][0].startswith("405") and started[0][1]["Allow"] == "POST, PUT"
    assert json.loads(b"".join(out))["code"] == 5


# --- Betsy's callbacks skip Django's request cycle too (issue #18): same answers, same guards ---

BETSY_SECRET = "betsy-wsgi-secret"


def _betsy_headers(body: bytes, secret: str | None = BETSY_SECRET) -> dict[str, str]:
    from wallet.betsy.protocol import sign as betsy_sign

    return {"x-sign-jws": betsy_sign(body, secret)} if secret else {}


def test_betsy_paths_take_the_direct_route():
    assert set(wsgi.BETSY_DIRECT) == {
        "/api/betsy/user/profile",
        "/api/betsy/user/balance",
        "/api/betsy/payment/bet",
        "/api/betsy/payment/check",
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "body", "secret"),
    [
        ("/api/betsy/payment/bet", b'{"type": 1}', "wrong-secret"),  # bad signature: code 1
        ("/api/betsy/payment/bet", b'{"type": 1}', None),  # no signature: code 1
        ("/api/betsy/payment/bet", b"{not json", BETSY_SECRET),  # code 5
        ("/api/betsy/payment/bet", b'{"type": 1, "currency": "EUR", "amount": "5"}', BETSY_SECRET),
        ("/api/betsy/user/balance", b'{"userId": "u", "currency": "USD", "token": "x"}', BETSY_SECRET),
        ("/api/betsy/payment/check", b'{"userId": "u", "transactionId": "none"}', BETSY_SECRET),
    ],
)
def test_the_betsy_direct_route_answers_like_the_django_view(settings, client, monkeypatch, path, body, secret):
    settings.BETSY_PARTNER_SECRET = BETSY_SECRET

    def no_django(environ, start_response):
        raise AssertionError("a signed Betsy callback went through Django's request cycle")

    monkeypatch.setattr(wsgi, "callbacks", no_django)
    headers = _betsy_headers(body, secret)
    status, response_headers, out = call(path, body, headers)
    assert status == "400 Bad Request" and response_headers["Content-Type"] == "application/json"
    assert response_headers["X-Content-Type-Options"] == "nosniff"
    assert response_headers["Content-Length"] == str(len(out))
    assert set(json.loads(out)) == {"code", "message"}  # Betsy's error format
    assert json.loads(out)["code"] == (1 if secret != BETSY_SECRET else 5)
    via_django = client.post(path, body, content_type="application/json", headers=headers)
    assert (via_django.status_code, via_django.content) == (400, out)
    assert via_django["x-sign-jws"] == response_headers["x-sign-jws"]  # our signature over the same answer


@pytest.mark.django_db(transaction=True)
def test_the_betsy_direct_route_refuses_oversized_bodies_unread(settings):
    settings.BETSY_PARTNER_SECRET = BETSY_SECRET
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = b'{"type": 1, "pad": "' + b"x" * 200 + b'"}'
    status, _, out = call("/api/betsy/payment/bet", body, _betsy_headers(body))
    assert status == "400 Bad Request" and json.loads(out) == {"code": 5, "message": "request body too large"}


@pytest.mark.django_db(transaction=True)
def test_the_betsy_direct_route_keeps_the_https_redirect_and_hsts(settings, monkeypatch):
    """What SecurityMiddleware did for Betsy's paths in production (docs/SECURITY.md)."""
    settings.BETSY_PARTNER_SECRET = BETSY_SECRET
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    monkeypatch.setattr(wsgi, "SECURITY", wsgi.Security())
    monkeypatch.setattr(wsgi, "callbacks", wsgi.CallbackHandler())  # its middleware reads the settings anew
    body = b"{}"
    status, headers, _ = call("/api/betsy/payment/bet", body, _betsy_headers(body))
    assert status.startswith("301") and headers["Location"] == "https://testserver/api/betsy/payment/bet"
    environ_https = {"wsgi.url_scheme": "https"}
    started: list = []
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/betsy/payment/bet",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "443",
        "HTTP_HOST": "testserver",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_X_SIGN_JWS": _betsy_headers(body)["x-sign-jws"],
        **environ_https,
    }
    out = b"".join(wsgi.application(environ, lambda s, h: started.append((s, dict(h)))))
    assert started[0][0].startswith("400") and json.loads(out)["code"] == 5  # served, in Betsy's format
    assert started[0][1]["Strict-Transport-Security"].startswith("max-age=3600")
