"""The outbox's health for dashboards: GET /api/crm/outbox/status (staff only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.selectors import outbox_stats


class OutboxStatusSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    sending = serializers.IntegerField()
    dead = serializers.IntegerField()
    # A duration in seconds, not money.
    lag_seconds = serializers.FloatField(help_text="Age of the oldest event not yet delivered (0 when none).")
    oldest_activity_id = serializers.CharField()
    dead_players = serializers.IntegerField(help_text="Players held back by a dead letter.")
    unavailable_seconds = serializers.FloatField(
        help_text="How long Fast Track has been unavailable, delivery paused (0 while it answers)."
    )


class OutboxStatusView(APIView):
    # Staff dashboards call this from an admin session; tools with a staff token.
    authentication_classes = [SessionAuthentication, TokenAuthentication]
    permission_classes = [IsAdminUser]

    @extend_schema(responses=OutboxStatusSerializer, summary="Fast Track outbox lag and backlog")
    def get(self, request: Request) -> Response:
        return Response(OutboxStatusSerializer(outbox_stats().as_dict()).data)
