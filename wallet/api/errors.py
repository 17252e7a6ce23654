"""Operator API error format: HTTP status + {"error": {"code", "message"}}."""

from __future__ import annotations

import json
import logging

from django.db import DatabaseError, IntegrityError
from rest_framework.exceptions import ErrorDetail
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from config.logthrottle import Throttled
from wallet import errors

logger = logging.getLogger("touchline.api")
# A database outage fails every request the same way: one traceback per cause per minute.
throttled = Throttled(logger, interval=60.0)

_STATUS: list[tuple[type[errors.WalletError], int]] = [
    (errors.PlayerExists, 409),
    (errors.InvalidRequest, 400),
    (errors.PlayerNotFound, 404),
    (errors.TransactionNotFound, 404),
    (errors.BetNotFound, 404),
    (errors.PermissionDenied, 403),
    (errors.IdempotencyConflict, 409),
    (errors.ProviderUnavailable, 503),
    (errors.WalletError, 422),  # a business refusal: insufficient funds, blocked player, …
]


def status_for(error: errors.WalletError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 422


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def render_wallet_error(error: errors.WalletError) -> tuple[int, str]:
    return status_for(error), json.dumps(error_body(error.code, error.message))


def exception_handler(exc, context):
    if isinstance(exc, errors.WalletError):
        return Response(error_body(exc.code, exc.message), status=status_for(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return _unexpected(exc, context)
    detail = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(getattr(exc, "detail", None), ErrorDetail) and exc.detail.code:
        code = exc.detail.code  # a specific code given where it was raised (e.g. scope_missing)
    message = detail.get("detail", detail) if isinstance(detail, dict) else detail
    response.data = error_body(str(code), message if isinstance(message, str) else json.dumps(message))
    if isinstance(detail, dict) and "detail" not in detail:
        response.data["error"]["fields"] = detail
    return response


def _unexpected(exc: Exception, context: dict) -> Response:
    """Whatever else went wrong still answers in the API's format, never Django's HTML page:
    503 while the database is unreachable (retry shortly), 500 otherwise. Logged here, once per
    cause per minute; Django's own line per 5xx response is skipped (`_has_been_logged`)."""
    set_rollback()
    view = context.get("view")
    where = type(view).__name__ if view is not None else "operator API"
    if isinstance(exc, DatabaseError) and not isinstance(exc, IntegrityError):
        throttled.log(
            logging.ERROR, f"db:{type(exc).__name__}", "%s: database unavailable: %s", where, exc, exc_info=True
        )
        response = Response(
            error_body("database_unavailable", "The database is unavailable; retry shortly."), status=503
        )
        response["Retry-After"] = "1"
    else:
        throttled.log(logging.ERROR, f"500:{where}:{type(exc).__name__}", "%s failed", where, exc_info=True)
        response = Response(error_body("internal_error", "Internal server error."), status=500)
    response._has_been_logged = True  # django.utils.log.log_response would log every one
    return response


class UnknownPlayerPath(APIView):
    """A path naming a player id outside the identifier rule (`%00`, padding, "café"): it never
    reaches the database. Authenticated like every operator API view (401 without a key), then
    the API's own 404, never an HTML page or a database error."""

    required_scope = "read"
    schema = None  # not an operation: nothing for the OpenAPI schema

    def _missing(self, request: Request, *args: object, **kwargs: object) -> Response:
        return Response(error_body("not_found", "no such player or path"), status=404)

    get = post = put = patch = delete = _missing
