"""Operator API error format: HTTP status + {"error": {"code", "message"}}."""

from __future__ import annotations

import json

from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from wallet import errors

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
    if response is not None:
        detail = response.data
        code = getattr(exc, "default_code", "error")
        if isinstance(getattr(exc, "detail", None), ErrorDetail) and exc.detail.code:
            code = exc.detail.code  # a specific code given where it was raised (e.g. scope_missing)
        message = detail.get("detail", detail) if isinstance(detail, dict) else detail
        response.data = error_body(str(code), message if isinstance(message, str) else json.dumps(message))
        if isinstance(detail, dict) and "detail" not in detail:
            response.data["error"]["fields"] = detail
    return response
