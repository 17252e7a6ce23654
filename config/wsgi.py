"""WSGI entry points. `application` is the provider-facing callback server: the IGPX and Betsy
callbacks go straight to their handlers, the health checks (and a Betsy request that
SecurityMiddleware would redirect to HTTPS) through a lean middleware stack, and nothing else is
served (no admin, operator API, API docs or /metrics: docs/CALLBACKS.md). `site`
is the whole site over WSGI (`runserver`); production serves it with the ASGI web process.

Every answer on a provider path is in that provider's format: a wrong method, a trailing slash,
`//` or `%00` gets the provider's JSON error, never Django's HTML page.

The seamless-wallet callbacks are machine-to-machine JSON, authenticated by an HMAC over the
body: sessions, user authentication, CSRF, messages, static files and frame headers do nothing
for them, and cost about 120 µs of CPU per callback (docs/benchmarks/igpx.md). `/api/betsy/`
keeps the metrics and security middleware.

The two IGPX paths skip Django's request cycle altogether (request and response objects, URL
resolution, middleware): it was 16% of the instructions of a callback, more than its SQL
round trips (docs/benchmarks/igpx.md, session 3). What that cycle did for them is done here:
POST only, the body read up to DATA_UPLOAD_MAX_MEMORY_SIZE, the request_started and
request_finished signals (which close a database connection that broke or aged out; sent, or
their Django receivers' work done directly: config/request_signals.py), the
Prometheus metrics under the same route label, `nosniff`. The handler is the view's own
(`wallet/igpx/views.py`, `answer`), so the two paths cannot drift apart. Betsy's four paths
do the same (`BETSY_DIRECT`, `betsy_direct`: the view's own `answer`, Betsy's error format, the
signature over the raw body, SecurityMiddleware's headers; issue #18).
"""

import functools
import http
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.middleware.security import SecurityMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
site = get_wsgi_application()

from django.conf import settings  # noqa: E402  (after django.setup())

from config import request_signals  # noqa: E402
from config.gcfreeze import freeze_startup_objects  # noqa: E402
from config.ops import HTTP_LATENCY, HTTP_REQUESTS  # noqa: E402
from wallet.betsy import conf as betsy_conf  # noqa: E402
from wallet.betsy import protocol as betsy_protocol  # noqa: E402
from wallet.betsy import views as betsy_views  # noqa: E402
from wallet.igpx import protocol as igpx_protocol  # noqa: E402
from wallet.igpx.views import NOT_ALLOWED, RollbackView, TransactionView  # noqa: E402

logger = logging.getLogger("touchline.http")

IGPX_PREFIX = "/api/igpx"
BETSY_PREFIX = "/api/betsy/"
HEALTH = frozenset({"/healthz", "/readyz"})
CALLBACK_MIDDLEWARE = ["config.ops.metrics_middleware", "django.middleware.security.SecurityMiddleware"]


class CallbackHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        # Runs once, at start-up, before any request is served.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = CALLBACK_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


callbacks = CallbackHandler()

Answer = Callable[[bytes | None, str | None, str, str | None], str]

# PATH_INFO -> (the route label Django's metrics would use, the handler)
DIRECT: dict[str, tuple[str, Answer]] = {
    "/api/igpx/transaction": ("api/igpx/transaction", TransactionView.answer),
    "/api/igpx/transaction-rollback": ("api/igpx/transaction-rollback", RollbackView.answer),
}
_JSON_HEADERS = [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")]


@functools.cache
def _latency(route: str) -> Any:  # prometheus children, looked up once per route
    return HTTP_LATENCY.labels(route)


@functools.cache
def _requests(route: str, status: str) -> Any:
    return HTTP_REQUESTS.labels(route, status)


class DirectCallback:
    """The sender of the request signals for direct callbacks (Django's is the handler class)."""


def _body(environ: dict, source: Any = settings) -> bytes | None:
    """The request body as Django would read it; None when it is over the size limit (read
    from `source`: Betsy's route passes its kept settings, wallet/betsy/conf.py)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = source.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        return None
    return environ["wsgi.input"].read(length) if length > 0 else b""


def direct(environ: dict, start_response: Callable, route: str, answer: Answer) -> Iterable[bytes]:
    started = time.perf_counter()
    try:
        request_signals.started(DirectCallback, environ)
        if environ.get("REQUEST_METHOD") != "POST":
            status, body, extra = "405 Method Not Allowed", NOT_ALLOWED.encode(), [("Allow", "POST")]
        else:
            raw = _body(environ)
            body = answer(
                raw, environ.get(igpx_protocol.SIGNATURE_META), environ["PATH_INFO"], environ.get("REMOTE_ADDR")
            )
            status, body, extra = "200 OK", body.encode(), []
    except Exception:
        # answer() turns every failure of the callback into the protocol's INTERNAL_ERROR; this is
        # for a failure around it (a signal receiver, the body stream).
        logger.exception("callback %s failed", environ.get("PATH_INFO"))
        status, body, extra = (
            "500 Internal Server Error",
            igpx_protocol.render_error(igpx_protocol.INTERNAL_ERROR).encode(),
            [],
        )
    finally:
        request_signals.finished(DirectCallback)
    _latency(route).observe(time.perf_counter() - started)
    _requests(route, status[:3]).inc()
    start_response(status, [*_JSON_HEADERS, ("Content-Length", str(len(body))), *extra])
    return [body]


# --- Betsy's callbacks: the same lean route, in Betsy's format --------------------------------

BetsyAnswer = Callable[..., tuple[int, bytes, list[tuple[str, str]]]]

# PATH_INFO -> (the route label Django's metrics would use, the view's own `answer`)
BETSY_DIRECT: dict[str, tuple[str, BetsyAnswer]] = {
    f"/api/betsy/{path}": (f"api/betsy/{path}", view.answer)  # type: ignore[attr-defined]
    for path, view in (
        ("user/profile", betsy_views.user_profile),
        ("user/balance", betsy_views.user_balance),
        ("payment/bet", betsy_views.payment_bet),
        ("payment/check", betsy_views.payment_check),
    )
}
_BETSY_SIGNATURE_META = "HTTP_" + betsy_protocol.HEADER_NAME.upper().replace("-", "_")


class _Scheme:
    def __init__(self, secure: bool) -> None:
        self.secure = secure

    def is_secure(self) -> bool:
        return self.secure


class Security:
    """What SecurityMiddleware did for Betsy's paths, from the middleware itself: its HTTPS
    redirect is left to it (such a request goes through `callbacks`), its response headers are
    added here. Settings are read once, at start-up, as the middleware reads them."""

    def __init__(self) -> None:
        from django.http import HttpResponse

        self.middleware = SecurityMiddleware(lambda request: None)
        self.redirect = self.middleware.redirect
        self.headers: dict[bool, list[tuple[str, str]]] = {}
        for secure in (False, True):
            response = self.middleware.process_response(_Scheme(secure), HttpResponse())  # type: ignore[arg-type]
            self.headers[secure] = [
                (k, v) for k, v in response.items() if k.lower() not in ("content-type", "content-length")
            ]


SECURITY = Security()


def _is_secure(environ: dict) -> bool:
    """HttpRequest.is_secure() on the raw environ (SECURE_PROXY_SSL_HEADER, else the scheme)."""
    proxy = betsy_conf.DJANGO.SECURE_PROXY_SSL_HEADER
    if proxy:
        header, secure_value = proxy
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


def betsy_direct(environ: dict, start_response: Callable, route: str, answer: BetsyAnswer) -> Iterable[bytes]:
    """A Betsy callback without Django's request cycle; what the cycle did for it is done here or
    in the view's `answer`: the signature over the raw body (constant time), the body-size limit,
    Betsy's error format, throttled refusal logs, the request signals, the metrics, the security
    headers; a plain-HTTP request that SecurityMiddleware would redirect still goes to it."""
    secure = _is_secure(environ)
    if SECURITY.redirect and not secure:
        return callbacks(environ, start_response)
    started = time.perf_counter()
    try:
        request_signals.started(DirectCallback, environ)
        status, body, extra = answer(
            environ.get("REQUEST_METHOD", ""),
            environ["PATH_INFO"],
            environ.get("REMOTE_ADDR"),
            environ.get(_BETSY_SIGNATURE_META),
            lambda: _body(environ, betsy_conf.DJANGO),
        )
    except Exception:
        # answer() turns every failure of the callback into Betsy's code 100; this is for a
        # failure around it (a signal receiver, the body stream).
        logger.exception("callback %s failed", environ.get("PATH_INFO"))
        status, body, extra = 500, betsy_protocol.render_error(betsy_protocol.Code.SYSTEM_ERROR, "system error"), []
    finally:
        request_signals.finished(DirectCallback)
    _latency(route).observe(time.perf_counter() - started)
    _requests(route, str(status)).inc()
    headers = [*betsy_views._headers(body), ("Content-Length", str(len(body))), *extra, *SECURITY.headers[secure]]
    start_response(_STATUS_LINES.get(status) or f"{status} {http.HTTPStatus(status).phrase}", headers)
    return [body]


_STATUS_LINES = {status: f"{status} {http.HTTPStatus(status).phrase}" for status in (200, 400, 404, 405, 500)}


_SLASHES = re.compile(r"/{2,}")
_NOT_FOUND = json.dumps({"error": {"code": "not_found", "message": "not served here"}}).encode()


def _send(start_response: Callable, status: str, body: bytes, headers: list[tuple[str, str]]) -> Iterable[bytes]:
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def not_served(path: str, start_response: Callable) -> Iterable[bytes]:
    """A path this server does not serve, answered without Django, in the format its prefix
    promises: `/api//igpx/transaction` is still an IGPX path, in IGPX's JSON."""
    canonical = _SLASHES.sub("/", path)
    if canonical.startswith(IGPX_PREFIX):
        return _send(start_response, "404 Not Found", NOT_ALLOWED.encode(), _JSON_HEADERS)
    if canonical.startswith(BETSY_PREFIX.rstrip("/")):
        response = betsy_views.not_found(None)
        headers = [(k, v) for k, v in response.items() if k.lower() != "content-length"]
        headers.append(("X-Content-Type-Options", "nosniff"))
        return _send(start_response, "404 Not Found", response.content, headers)
    return _send(start_response, "404 Not Found", _NOT_FOUND, _JSON_HEADERS)


def application(environ, start_response):
    """The callback server: provider paths and health checks only."""
    path = environ.get("PATH_INFO", "")
    target = DIRECT.get(path)
    if target is not None:
        return direct(environ, start_response, *target)
    betsy = BETSY_DIRECT.get(path)
    if betsy is not None:
        return betsy_direct(environ, start_response, *betsy)
    if (path.startswith(BETSY_PREFIX) and "//" not in path) or path in HEALTH:
        # Betsy's own URLconf answers its unknown paths and wrong methods in Betsy's format.
        return callbacks(environ, start_response)
    return not_served(path, start_response)


# Last: everything above lives as long as the worker; full collections need not walk it.
freeze_startup_objects()
