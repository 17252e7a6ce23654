"""Read API for the feed state (token auth, as the operator API). Views only call selectors."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from feeds import selectors


class OutcomeOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    odds = serializers.CharField(allow_null=True)
    active = serializers.BooleanField()


class MarketOut(serializers.Serializer):
    market_id = serializers.IntegerField()
    specifiers = serializers.CharField(allow_blank=True)
    name = serializers.CharField()
    status = serializers.IntegerField()
    producer_id = serializers.IntegerField(allow_null=True)
    producer_up = serializers.BooleanField()
    odds_updated_at = serializers.DateTimeField(allow_null=True)
    outcomes = OutcomeOut(many=True)


class CompetitorOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    qualifier = serializers.CharField(allow_blank=True)


class EventOut(serializers.Serializer):
    event_urn = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    sport_id = serializers.IntegerField(allow_null=True)
    sport_name = serializers.CharField(allow_blank=True)
    tournament_name = serializers.CharField(allow_blank=True)
    scheduled = serializers.DateTimeField(allow_null=True)
    status = serializers.IntegerField(allow_null=True)
    home_score = serializers.CharField(allow_blank=True)
    away_score = serializers.CharField(allow_blank=True)
    competitors = CompetitorOut(many=True)


class EventMarketsOut(serializers.Serializer):
    event = EventOut()
    markets = MarketOut(many=True)


class ProducerOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    usable = serializers.BooleanField()
    subscribed = serializers.BooleanField()
    alive_recent = serializers.BooleanField()
    last_alive_at = serializers.DateTimeField(allow_null=True)
    status_reason = serializers.CharField(allow_blank=True)
    recovery_id = serializers.IntegerField(allow_null=True)


class EventMarkets(APIView):
    required_scope = "feeds"

    @extend_schema(
        responses={200: EventMarketsOut, 404: OpenApiResponse(description="unknown event")},
        summary="An event's markets, odds and status (names resolved)",
    )
    def get(self, request: Request, urn: str) -> Response:
        data = selectors.event_markets(urn)
        if data is None:
            return Response({"error": {"code": "not_found", "message": f"unknown event {urn}"}}, status=404)
        return Response(EventMarketsOut(data).data)


class Producers(APIView):
    required_scope = "feeds"

    @extend_schema(responses={200: ProducerOut(many=True)}, summary="UOF producer health")
    def get(self, request: Request) -> Response:
        return Response(ProducerOut(selectors.producer_health(), many=True).data)
