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


def call(path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[str, dict[str, str], bytes]:
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
    out = b"".join(wsgi.application(environ, lambda status, h: started.append((status, dict(h)))))
    return started[0][0], started[0][1], out


# transaction=True: the real handler closes the connection at the end of each request.
@pytest.mark.django_db(transaction=True)
def test_the_site_keeps_its_full_stack():
    # A cookie-less POST to the admin login is refused by CSRF.
    status, headers, _ = call("/admin/login/", b"username=a&password=b")
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
