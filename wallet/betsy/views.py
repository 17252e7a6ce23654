"""Betsy's callbacks over HTTP. Thin: check the method, verify the signature over the raw body
before anything else, parse, call one service, render. No DRF here: the JWS is the
authentication, and Betsy's error format is its own (HTTP 400 {"code", "message"})."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from config.logthrottle import Throttled
from wallet.betsy import conf, fastparse, parsing, protocol, services
from wallet.betsy.protocol import BetsyError, Code
from wallet.services import refusals

logger = logging.getLogger("touchline.wallet.betsy")
security_logger = logging.getLogger("touchline.security.betsy")
_bad_signatures = Throttled(security_logger)

Handler = Callable[[str, bytes], services.Answer]  # (HTTP method, raw body)


Headers = list[tuple[str, str]]


def _headers(body: bytes) -> Headers:
    """Content type and, when configured, our signature over the body (config/wsgi.py adds
    the length and the security headers on the direct route)."""
    headers = [("Content-Type", "application/json")]
    if conf.SIGN_RESPONSES:
        headers.append((protocol.HEADER_NAME, protocol.sign(body, conf.DJANGO.BETSY_PARTNER_SECRET)))
    return headers


def _respond(status: int, body: bytes, extra: Headers | None = None) -> HttpResponse:
    response = HttpResponse(body, status=status)
    for name, value in [*_headers(body), *(extra or [])]:
        response[name] = value
    response["Content-Length"] = str(len(body))  # callbacks run without CommonMiddleware (config/wsgi.py)
    # Betsy's refusals are HTTP 400 by protocol: Django would log a WARNING for each one, a flood
    # under a misconfigured or hostile sender. We log what matters ourselves, throttled.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@csrf_exempt  # provider paths answer in the provider's format, never CSRF's HTML 403
def not_found(request: HttpRequest | None, *args: object, **kwargs: object) -> HttpResponse:
    """Any other path under /api/betsy/ (a trailing slash, `//`, `%00`…): Betsy's format, HTTP 404."""
    return _respond(404, protocol.render_error(Code.VALIDATION, "no such path"))


def _not_allowed(methods: tuple[str, ...]) -> tuple[int, bytes, Headers]:
    body = protocol.render_error(Code.VALIDATION, f"method must be {' or '.join(methods)}")
    return 405, body, [("Allow", ", ".join(methods))]


def _refused(method: str, body: bytes, error: BetsyError) -> None:
    """A settle, unsettle or rollback refused by us for good: the same answer on every retry,
    and staff see it once (docs/CALLBACKS.md). Place, profile, balance and check are not retried.
    Settle, unsettle and rollback are the PUTs of /payment/bet: Betsy retries them until they succeed."""
    if method != "PUT" or error.code in (Code.INVALID_SIGNATURE, Code.SYSTEM_ERROR):
        return
    operation, transaction_id = parsing.peek(body)
    refusals.refused(
        services.PROVIDER, operation or "payment", transaction_id, f"code {int(error.code)}: {error.message}"
    )


def answer(
    handler: Handler,
    methods: tuple[str, ...],
    method: str,
    path: str,
    address: str | None,
    signature: str | None,
    read_body: Callable[[], bytes | None],
) -> tuple[int, bytes, Headers]:
    """One Betsy callback, from what arrived to (HTTP status, body, extra headers). Shared by the
    Django view and the direct WSGI route (config/wsgi.py), so the two cannot drift apart.
    `read_body`: the raw body, or None when it is over the size limit (then never read)."""
    if method not in methods:
        return _not_allowed(methods)
    started = time.perf_counter()
    allowed = conf.ALLOWED_IPS
    if allowed.networks and not allowed.allows(address):
        allowed.refuse(services.PROVIDER, address)
        return 400, protocol.render_error(Code.INVALID_SIGNATURE, "address not allowed"), []
    body, signed = b"", False
    try:
        raw = read_body()
        if raw is None:  # unread, so it cannot even be authenticated
            _bad_signatures.warning(f"too-large:{address}", "betsy %s refused: body too large (from %s)", path, address)
            raise BetsyError(Code.VALIDATION, "request body too large")
        body = raw
        try:
            protocol.verify(signature, body, conf.DJANGO.BETSY_PARTNER_SECRET)  # constant-time comparison
        except BetsyError as error:
            _bad_signatures.warning(f"{path}:{address}", "betsy %s refused: %s (from %s)", path, error, address)
            raise
        signed = True
        reply = handler(method, body)
        status, payload = reply.status, reply.body
    except BetsyError as error:
        if signed:
            _refused(method, body, error)
        status, payload = 400, protocol.render_error(error.code, error.message)
    except Exception:
        # Nothing was committed (money services are atomic). On place bet, code 100 makes
        # Betsy send a rollback, which tombstones or refunds as the case may be.
        logger.exception("betsy %s %s failed", method, path)
        status, payload = 400, protocol.render_error(Code.SYSTEM_ERROR, "system error")
    elapsed_ms = (time.perf_counter() - started) * 1000
    if elapsed_ms > conf.SLOW_REQUEST_MS:
        logger.warning("betsy %s %s took %.0f ms", method, path, elapsed_ms)
    return status, payload, []


def _django_body(request: HttpRequest) -> bytes | None:
    try:
        return request.body
    except RequestDataTooBig:
        return None


Endpoint = Callable[[HttpRequest], HttpResponse]


def betsy_endpoint(methods: tuple[str, ...]) -> Callable[[Handler], Endpoint]:
    """A Django view for `handler`; its `answer` (the same callback without Django's request and
    response objects) is what config/wsgi.py's direct route calls."""

    def decorate(handler: Handler) -> Endpoint:
        bound = functools.partial(answer, handler, methods)

        @csrf_exempt
        def view(request: HttpRequest) -> HttpResponse:
            status, payload, extra = bound(
                request.method or "",
                request.path,
                request.META.get("REMOTE_ADDR"),
                request.headers.get(protocol.HEADER_NAME),
                lambda: _django_body(request),
            )
            return _respond(status, payload, extra)

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        view.answer = bound  # type: ignore[attr-defined]
        return view

    return decorate


@betsy_endpoint(("POST",))
def user_profile(method: str, body: bytes) -> services.Answer:
    return services.profile_get(parsing.parse_profile(body))


@betsy_endpoint(("POST",))
def user_balance(method: str, body: bytes) -> services.Answer:
    return services.balance_get(parsing.parse_balance(body))


@betsy_endpoint(("POST", "PUT"))
def payment_bet(method: str, body: bytes) -> services.Answer:
    """POST type 1 place; PUT type 2 settle, type 1 unsettle, type 3 rollback."""
    return services.bet_execute(fastparse.parse_bet(method, body))  # the usual body typed, else parsing's


@betsy_endpoint(("POST",))
def payment_check(method: str, body: bytes) -> services.Answer:
    return services.check_get(parsing.parse_check(body))
