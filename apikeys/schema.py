"""The operator API's OpenAPI: the bearer key scheme, the scope each operation needs, and the
error answers every operation can give (401 without a valid key, 403 without the scope, 429
over the key's rate), all in the API's error format."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from apikeys.auth import HasScope, required_scope


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: invalid_request, insufficient_funds, throttled…")
    message = serializers.CharField()
    fields = serializers.DictField(required=False, help_text="Per-field validation messages (400 only).")


class ErrorOut(serializers.Serializer):
    error = ErrorDetail()


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorOut, description=description)


AUTH_ERRORS = {
    "401": "no API key, or an unknown, revoked or expired one",
    "403": "the key lacks this operation's scope (or, for a transfer, its limit)",
    "429": "over the key's rate limit; retry after the Retry-After header's seconds",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "<prefix>.<secret>",
            "description": "An operator API key (created by an Admin in the admin, shown once).",
        }


class OperatorAutoSchema(AutoSchema):
    def _protected(self) -> bool:
        return any(issubclass(p, HasScope) for p in getattr(self.view, "permission_classes", ()))

    def get_description(self) -> str:
        description = super().get_description() or ""
        scope = required_scope(self.view, self.method) if self._protected() else None
        if scope:
            description = f"{description}\n\nAPI-key scope: `{scope}`.".strip()
        return description

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction == "response" and self._protected():
            for code, description in AUTH_ERRORS.items():
                responses.setdefault(code, self._get_response_for_code(error(description), code, direction=direction))
        return responses
