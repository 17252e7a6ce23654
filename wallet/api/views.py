"""Operator API: the casino platform's door into the wallet.

Callers are API keys (apikeys/), never staff users: each view declares the key scope it needs
(`required_scope`). Views validate input, call one service or selector, and render. No ORM
writes here.
"""

from __future__ import annotations

import json

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.schema import error
from wallet import selectors
from wallet.api import serializers as s
from wallet.api.errors import render_wallet_error
from wallet.api.sessions import launch_session, providers
from wallet.models import Player
from wallet.services import players as player_services
from wallet.services.transfers import DEPOSIT, WITHDRAWAL, transfer_execute

ERRORS = {
    400: error("validation error (per-field messages in error.fields)"),
    404: error("unknown player"),
    422: error("refused: insufficient funds, blocked player…"),
}
CONFLICT = {409: error("the reference was already used for a different transfer")}


def _key(request: Request) -> dict[str, str]:
    """How audit rows name the calling API key."""
    return request.auth.audit_label


class PlayerListCreate(APIView):
    required_scope = "players"

    @extend_schema(
        request=s.PlayerCreateIn,
        responses={201: s.PlayerOut, **ERRORS, 409: error("a player with this external_id exists")},
        summary="Create a player",
    )
    def post(self, request: Request) -> Response:
        data = s.PlayerCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        player = player_services.player_create(**data.validated_data, actor_id=None, api_key=_key(request))
        return Response(s.PlayerOut(player).data, status=status.HTTP_201_CREATED)


class PlayerDetail(APIView):
    required_scope = "read"

    @extend_schema(responses={200: s.PlayerOut, **ERRORS}, summary="A player with balances")
    def get(self, request: Request, external_id: str) -> Response:
        return Response(s.PlayerOut(selectors.player_get(external_id=external_id)).data)


class PlayerBlock(APIView):
    """POST …/block and …/unblock: the target status is the route's."""

    target: str | None = None
    required_scope = "players"
    input_class: type[s.ReasonIn] = s.ReasonIn

    @extend_schema(request=s.ReasonIn, responses={200: s.PlayerOut, **ERRORS}, summary="Block or unblock a player")
    def post(self, request: Request, external_id: str) -> Response:
        data = self.input_class(data=request.data)
        data.is_valid(raise_exception=True)
        player = player_services.player_set_status(
            player=selectors.player_get(external_id=external_id),
            status=self.target or data.validated_data["status"],
            reason=data.validated_data["reason"],
            actor_id=None,
            api_key=_key(request),
        )
        return Response(s.PlayerOut(player).data)


class PlayerStatus(PlayerBlock):
    """POST …/status with an explicit status."""

    input_class = s.StatusIn

    @extend_schema(request=s.StatusIn, responses={200: s.PlayerOut, **ERRORS}, summary="Change a player's status")
    def post(self, request: Request, external_id: str) -> Response:
        return super().post(request, external_id)


class Transfer(APIView):
    direction = DEPOSIT
    required_scope = "payments"

    @extend_schema(
        request=s.TransferIn,
        responses={201: s.TransferOut, **ERRORS, **CONFLICT},
        summary="Deposit or withdraw, idempotent by reference",
    )
    def post(self, request: Request, external_id: str) -> HttpResponse:
        data = s.TransferIn(data=request.data)
        data.is_valid(raise_exception=True)
        reference = data.validated_data["reference"]
        reply = transfer_execute(
            direction=self.direction,
            player_external_id=external_id,
            currency=data.validated_data["currency"],
            amount=data.validated_data["amount"],
            reference=reference,
            caller=request.auth,
            render=lambda result: (201, json.dumps(s.transfer_body(result=result, reference=reference))),
            render_error=render_wallet_error,
        )
        # The stored body, byte for byte: a retried transfer gets exactly the first answer.
        response = HttpResponse(reply.body, status=reply.status, content_type="application/json")
        response["Idempotent-Replayed"] = "true" if reply.replayed else "false"
        return response


class Withdrawal(Transfer):
    direction = WITHDRAWAL


@extend_schema(
    responses={200: s.TransactionOut(many=True), 404: ERRORS[404]}, summary="A player's ledger, newest first"
)
class PlayerTransactions(generics.ListAPIView):
    required_scope = "read"
    serializer_class = s.TransactionOut
    ordering = "-id"

    def get_queryset(self):
        return selectors.player_transactions(player=selectors.player_get(external_id=self.kwargs["external_id"]))


@extend_schema(responses={200: s.BetOut(many=True), 404: ERRORS[404]}, summary="A player's bets, newest first")
class PlayerBets(generics.ListAPIView):
    required_scope = "read"
    serializer_class = s.BetOut
    ordering = "-id"

    def get_queryset(self):
        return selectors.player_bets(player=selectors.player_get(external_id=self.kwargs["external_id"]))


class SessionLaunch(APIView):
    required_scope = "sessions"

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("provider", str, OpenApiParameter.PATH, enum=providers())],
        responses={
            200: OpenApiResponse(description="provider-specific launch data"),
            **ERRORS,
            503: error("the provider's API could not be reached"),
        },
        summary="Launch a sportsbook session for a player",
    )
    def post(self, request: Request, external_id: str, provider: str) -> Response:
        player: Player = selectors.player_get(external_id=external_id)
        return Response(launch_session(provider=provider, player=player, options=request.data or {}))
