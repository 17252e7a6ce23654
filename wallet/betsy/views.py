"""Betsy's callbacks over HTTP. Thin: check the method, verify the signature over the raw body
before anything else, parse, call one service, render. No DRF here: the JWS is the
authentication, and Betsy's error format is its own (HTTP 400 {"code", "message"})."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from config.logthrottle import Throttled
from wallet.betsy import conf, protocol, services
from wallet.betsy.protocol import BetsyError, Code
from wallet.services import refusals

logger = logging.getLogger("touchline.wallet.betsy")
security_logger = logging.getLogger("touchline.security.betsy")
_bad_signatures = Throttled(security_logger)

Handler = Callable[[HttpRequest, bytes], services.Answer]


def _respond(status: int, body: bytes) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="application/json")
    response["Content-Length"] = str(len(body))  # callbacks run without CommonMiddleware (config/wsgi.py)
    # Betsy's refusals are HTTP 400 by protocol: Django would log a WARNING for each one, a flood
    # under a misconfigured or hostile sender. We log what matters ourselves, throttled.
    response._has_been_logged = True  # type: ignore[attr-defined]
    if conf.SIGN_RESPONSES:
        response[protocol.HEADER_NAME] = protocol.sign(body, settings.BETSY_PARTNER_SECRET)
    return response


@csrf_exempt  # provider paths answer in the provider's format, never CSRF's HTML 403
def not_found(request: HttpRequest | None, *args: object, **kwargs: object) -> HttpResponse:
    """Any other path under /api/betsy/ (a trailing slash, `//`, `%00`…): Betsy's format, HTTP 404."""
    return _respond(404, protocol.render_error(Code.VALIDATION, "no such path"))


def _not_allowed(methods: tuple[str, ...]) -> HttpResponse:
    response = _respond(405, protocol.render_error(Code.VALIDATION, f"method must be {' or '.join(methods)}"))
    response["Allow"] = ", ".join(methods)
    return response


def _must_succeed(request: HttpRequest) -> bool:
    """Settle, unsettle and rollback (PUT /payment/bet): Betsy retries them until they succeed."""
    return request.method == "PUT"


def _refused(request: HttpRequest, body: bytes, error: BetsyError) -> None:
    """A settle, unsettle or rollback refused by us for good: the same answer on every retry,
    and staff see it once (docs/CALLBACKS.md). Place, profile, balance and check are not retried."""
    if not _must_succeed(request) or error.code in (Code.INVALID_SIGNATURE, Code.SYSTEM_ERROR):
        return
    operation, transaction_id = protocol.peek(body)
    refusals.refused(
        services.PROVIDER, operation or "payment", transaction_id, f"code {int(error.code)}: {error.message}"
    )


def betsy_endpoint(methods: tuple[str, ...]) -> Callable[[Handler], Callable[[HttpRequest], HttpResponse]]:
    def decorate(handler: Handler) -> Callable[[HttpRequest], HttpResponse]:
        @csrf_exempt
        def view(request: HttpRequest) -> HttpResponse:
            if request.method not in methods:
                return _not_allowed(methods)
            started = time.perf_counter()
            allowed, address = conf.ALLOWED_IPS, request.META.get("REMOTE_ADDR")
            if allowed.networks and not allowed.allows(address):
                allowed.refuse(services.PROVIDER, address)
                return _respond(400, protocol.render_error(Code.INVALID_SIGNATURE, "address not allowed"))
            body, signed = b"", False
            try:
                try:
                    body = request.body
                except RequestDataTooBig:  # unread, so it cannot even be authenticated
                    _bad_signatures.warning(
                        f"too-large:{address}", "betsy %s refused: body too large (from %s)", request.path, address
                    )
                    raise BetsyError(Code.VALIDATION, "request body too large") from None
                try:
                    protocol.verify(request.headers.get(protocol.HEADER_NAME), body, settings.BETSY_PARTNER_SECRET)
                except BetsyError as error:
                    _bad_signatures.warning(
                        f"{request.path}:{address}", "betsy %s refused: %s (from %s)", request.path, error, address
                    )
                    raise
                signed = True
                answer = handler(request, body)
                status, payload = answer.status, answer.body
            except BetsyError as error:
                if signed:
                    _refused(request, body, error)
                status, payload = 400, protocol.render_error(error.code, error.message)
            except Exception:
                # Nothing was committed (money services are atomic). On place bet, code 100 makes
                # Betsy send a rollback, which tombstones or refunds as the case may be.
                logger.exception("betsy %s %s failed", request.method, request.path)
                status, payload = 400, protocol.render_error(Code.SYSTEM_ERROR, "system error")
            elapsed_ms = (time.perf_counter() - started) * 1000
            if elapsed_ms > conf.SLOW_REQUEST_MS:
                logger.warning("betsy %s %s took %.0f ms", request.method, request.path, elapsed_ms)
            return _respond(status, payload)

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        return view

    return decorate


@betsy_endpoint(("POST",))
def user_profile(request: HttpRequest, body: bytes) -> services.Answer:
    return services.profile_get(protocol.parse_profile(body))


@betsy_endpoint(("POST",))
def user_balance(request: HttpRequest, body: bytes) -> services.Answer:
    return services.balance_get(protocol.parse_balance(body))


@betsy_endpoint(("POST", "PUT"))
def payment_bet(request: HttpRequest, body: bytes) -> services.Answer:
    """POST type 1 place; PUT type 2 settle, type 1 unsettle, type 3 rollback."""
    return services.bet_execute(protocol.parse_bet(request.method or "", body))


@betsy_endpoint(("POST",))
def payment_check(request: HttpRequest, body: bytes) -> services.Answer:
    return services.check_get(protocol.parse_check(body))
