"""Betsy's callbacks over HTTP. Thin: check the method, verify the signature over the raw body
before anything else, parse, call one service, render. No DRF here: the JWS is the
authentication, and Betsy's error format is its own (HTTP 400 {"code", "message"})."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from wallet.betsy import conf, protocol, services
from wallet.betsy.protocol import BetsyError, Code

logger = logging.getLogger("touchline.wallet.betsy")

Handler = Callable[[HttpRequest, bytes], services.Answer]


def _respond(status: int, body: bytes) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="application/json")
    response["Content-Length"] = str(len(body))  # callbacks run without CommonMiddleware (config/wsgi.py)
    if conf.SIGN_RESPONSES:
        response[protocol.HEADER_NAME] = protocol.sign(body, settings.BETSY_PARTNER_SECRET)
    return response


def betsy_endpoint(methods: tuple[str, ...]) -> Callable[[Handler], Callable[[HttpRequest], HttpResponse]]:
    def decorate(handler: Handler) -> Callable[[HttpRequest], HttpResponse]:
        @csrf_exempt
        def view(request: HttpRequest) -> HttpResponse:
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            started = time.perf_counter()
            try:
                try:
                    body = request.body
                except RequestDataTooBig:
                    raise BetsyError(Code.VALIDATION, "request body too large") from None
                protocol.verify(request.headers.get(protocol.HEADER_NAME), body, settings.BETSY_PARTNER_SECRET)
                answer = handler(request, body)
                status, payload = answer.status, answer.body
            except BetsyError as error:
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
