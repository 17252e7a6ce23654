"""WSGI entry point: the IGPX callbacks go straight to their handler, other provider callbacks
through a lean middleware stack, everything else through the full one.

The seamless-wallet callbacks are machine-to-machine JSON, authenticated by an HMAC over the
body: sessions, user authentication, CSRF, messages, static files and frame headers do nothing
for them, and cost about 120 µs of CPU per callback (docs/benchmarks/igpx.md). `/api/betsy/`
keeps the metrics and security middleware.

The two IGPX paths skip Django's request cycle altogether (request and response objects, URL
resolution, middleware): it was 16% of the instructions of a callback, more than its SQL
round trips (docs/benchmarks/igpx.md, session 3). What that cycle did for them is done here:
POST only, the body read up to DATA_UPLOAD_MAX_MEMORY_SIZE, the request_started and
request_finished signals (which close a database connection that broke or aged out), the
Prometheus metrics under the same route label, `nosniff`. The handler is the view's own
(`wallet/igpx/views.py`, `answer`), so the two paths cannot drift apart.
"""

import functools
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
site = get_wsgi_application()

from django.conf import settings  # noqa: E402  (after django.setup())

from config.ops import HTTP_LATENCY, HTTP_REQUESTS  # noqa: E402
from wallet.igpx import protocol as igpx_protocol  # noqa: E402
from wallet.igpx.views import RollbackView, TransactionView  # noqa: E402

logger = logging.getLogger("touchline.http")

CALLBACK_PREFIXES = ("/api/igpx/", "/api/betsy/")
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


def _body(environ: dict) -> bytes | None:
    """The request body as Django would read it; None when it is over the size limit."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        return None
    return environ["wsgi.input"].read(length) if length > 0 else b""


def direct(environ: dict, start_response: Callable, route: str, answer: Answer) -> Iterable[bytes]:
    started = time.perf_counter()
    try:
        signals.request_started.send(sender=DirectCallback, environ=environ)
        if environ.get("REQUEST_METHOD") != "POST":
            status, body, extra = "405 Method Not Allowed", b"", [("Allow", "POST")]
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
        signals.request_finished.send(sender=DirectCallback)
    _latency(route).observe(time.perf_counter() - started)
    _requests(route, status[:3]).inc()
    start_response(status, [*_JSON_HEADERS, ("Content-Length", str(len(body))), *extra])
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    target = DIRECT.get(path)
    if target is not None:
        return direct(environ, start_response, *target)
    if path.startswith(CALLBACK_PREFIXES):
        return callbacks(environ, start_response)
    return site(environ, start_response)
