"""Operator API: a player's protection (limits, time-out, self-exclusion, verification, date of
birth), read and changed under the cooling rule, idempotent by reference (docs/PROTECTION.md)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from apikeys.schema import error
from wallet import selectors
from wallet.api.errors import render_wallet_error
from wallet.currencies import CURRENCIES
from wallet.services import protection


class ProtectionIn(serializers.Serializer):
    reference = serializers.RegexField(r"^[\x21-\x7e]{1,128}$", help_text="Your unique id for this change.")
    reason = serializers.CharField(max_length=1000, help_text="Why (kept in the audit log).")
    currency = serializers.ChoiceField(
        choices=sorted(CURRENCIES), required=False, default="", help_text="The wallet money limits apply to."
    )
    changes = serializers.DictField(
        help_text="Only the fields to change: stake_per_bet, wager_day|week|month, loss_day|week|month (decimal"
        " strings, null removes), bets_day (integer or null), time_out (date-time or null), self_exclusion"
        ' (date-time, "indefinite"), verification (unverified|verified|failed), date_of_birth (YYYY-MM-DD),'
        " jurisdiction (code or blank)."
    )


class PlayerProtection(APIView):
    """GET and POST /api/operator/players/<id>/protection/."""

    required_scope = "limits"

    @extend_schema(
        responses={
            200: OpenApiResponse(description="limits, usage this period, pending changes, history"),
            404: error("unknown player"),
        },
        summary="A player's protection",
    )
    def get(self, request: Request, external_id: str) -> HttpResponse:
        player = selectors.player_get(external_id=external_id)
        return HttpResponse(protection.state_json(protection.protection_state(player)), content_type="application/json")

    @extend_schema(
        request=ProtectionIn,
        responses={
            200: OpenApiResponse(description="the changes (applied or pending) and the protection after them"),
            400: error("validation error (per-field messages in error.fields)"),
            403: error("the key lacks the limits scope, or a self-exclusion cannot be shortened here"),
            404: error("unknown player"),
            409: error("the reference was already used for a different change"),
            422: error("refused: the player has no wallet in that currency"),
        },
        summary="Change a player's protection (tighter at once, looser after the cooling period)",
    )
    def post(self, request: Request, external_id: str) -> HttpResponse:
        data = ProtectionIn(data=request.data)
        data.is_valid(raise_exception=True)
        player = selectors.player_get(external_id=external_id)
        reply = protection.protection_execute(
            player=player,
            data=data.validated_data["changes"],
            currency=data.validated_data["currency"],
            reason=data.validated_data["reason"],
            reference=data.validated_data["reference"],
            api_key=request.auth.audit_label,
            render_error=render_wallet_error,
        )
        response = HttpResponse(reply.body, status=reply.status, content_type="application/json")
        response["Idempotent-Replayed"] = "true" if reply.replayed else "false"
        return response
