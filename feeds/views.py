"""Read API for the feed state (token auth, as the operator API): /api/operator/feeds/…

Everything the admin shows, for integrators and our own settlement cross-checks. Views only
validate the query and call selectors; the shapes are documented in the OpenAPI schema.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.schema import error
from feeds import selectors
from feeds.models import FeedMessage


class FeedOutcomeOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    odds = serializers.CharField(allow_null=True, help_text="decimal odds as sent, null when not priced")
    probability = serializers.CharField(allow_null=True, required=False)
    active = serializers.BooleanField()


class FeedSettledOutcomeOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    result = serializers.IntegerField(allow_null=True, help_text="1 won, 0 lost, -1 undecided (void factor applies)")
    void_factor = serializers.CharField(allow_null=True, help_text="share of the stake refunded (0.5, 1)")
    dead_heat_factor = serializers.CharField(allow_null=True, help_text="share of the winnings paid")


class FeedSettlementOut(serializers.Serializer):
    producer_id = serializers.IntegerField()
    certainty = serializers.IntegerField(allow_null=True, help_text="1 live scouted, 2 confirmed")
    void_reason = serializers.IntegerField(allow_null=True)
    void_reason_name = serializers.CharField(allow_blank=True)
    message_time = serializers.DateTimeField(help_text="the producer's timestamp of the latest change")
    updated_at = serializers.DateTimeField()
    rolled_back = serializers.BooleanField(help_text="the producer's last word on this line was a rollback")
    rolled_back_time = serializers.DateTimeField(allow_null=True)
    outcomes = FeedSettledOutcomeOut(many=True, help_text="outcomes still settled (a rollback empties them)")


class FeedCancelOut(serializers.Serializer):
    producer_id = serializers.IntegerField()
    start_time = serializers.DateTimeField(allow_null=True, help_text="bets placed from (absent: from the start)")
    end_time = serializers.DateTimeField(allow_null=True, help_text="bets placed until (absent: to the end)")
    void_reason = serializers.IntegerField(allow_null=True)
    void_reason_name = serializers.CharField(allow_blank=True)
    superceded_by = serializers.CharField(allow_blank=True, help_text="UOF's spelling")
    active = serializers.BooleanField(help_text="bets in the window are void (false once rolled back)")
    rolled_back = serializers.BooleanField()
    cancel_time = serializers.DateTimeField(allow_null=True)
    rollback_time = serializers.DateTimeField(allow_null=True)


class FeedBetStopOut(serializers.Serializer):
    stopped = serializers.BooleanField(help_text="suspended by a bet_stop (status -1)")
    next_betstop = serializers.DateTimeField(allow_null=True)


class FeedLineOut(serializers.Serializer):
    market_id = serializers.IntegerField()
    specifiers = serializers.CharField(allow_blank=True)
    extended_specifiers = serializers.CharField(allow_blank=True)
    name = serializers.CharField()
    status = serializers.IntegerField(
        help_text="1 active, 0 inactive, -1 suspended, -2 handed over, -3 settled, -4 cancelled"
    )
    status_name = serializers.CharField(allow_blank=True)
    producer_id = serializers.IntegerField(allow_null=True)
    producer_up = serializers.BooleanField()
    fresh = serializers.BooleanField(help_text="odds current: producer up without interruption since they came")
    stale_reason = serializers.CharField(allow_blank=True)
    odds_updated_at = serializers.DateTimeField(allow_null=True)
    last_message_time = serializers.DateTimeField(allow_null=True)
    favourite = serializers.BooleanField()
    cashout_status = serializers.IntegerField(allow_null=True)
    bet_stop = FeedBetStopOut()
    outcomes = FeedOutcomeOut(many=True)
    settlements = FeedSettlementOut(many=True, help_text="one per producer: live and prematch may differ")
    cancels = FeedCancelOut(many=True)


class FeedCompetitorOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    qualifier = serializers.CharField(allow_blank=True)


class FeedEventOut(serializers.Serializer):
    event_urn = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    sport_id = serializers.IntegerField(allow_null=True)
    sport_name = serializers.CharField(allow_blank=True)
    category_name = serializers.CharField(allow_blank=True)
    tournament_urn = serializers.CharField(allow_blank=True)
    tournament_name = serializers.CharField(allow_blank=True)
    scheduled = serializers.DateTimeField(allow_null=True)
    start_time_tbd = serializers.BooleanField()
    competitors = FeedCompetitorOut(many=True)
    status = serializers.IntegerField(allow_null=True, help_text="sport_event_status: 0 not started … 4 closed")
    status_name = serializers.CharField(allow_blank=True)
    match_status = serializers.IntegerField(allow_null=True)
    match_status_name = serializers.CharField(allow_blank=True, help_text="from the match_status code list")
    home_score = serializers.CharField(allow_blank=True)
    away_score = serializers.CharField(allow_blank=True)
    status_time = serializers.DateTimeField(allow_null=True)
    betting_status = serializers.IntegerField(allow_null=True)
    betting_status_name = serializers.CharField(allow_blank=True)
    betstop_reason = serializers.IntegerField(allow_null=True)
    betstop_reason_name = serializers.CharField(allow_blank=True)
    fixture_loaded = serializers.BooleanField()


class FeedEventMarketsOut(serializers.Serializer):
    event = FeedEventOut()
    markets = FeedLineOut(many=True)


class FeedProducerOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField(help_text="up, down or recovering")
    status_reason = serializers.CharField(allow_blank=True, help_text="why it is in that state")
    status_changed_at = serializers.DateTimeField(allow_null=True)
    usable = serializers.BooleanField(help_text="up, subscribed and alive within the window: odds can be priced")
    subscribed = serializers.BooleanField()
    alive_recent = serializers.BooleanField()
    last_alive_at = serializers.DateTimeField(allow_null=True)
    up_since = serializers.DateTimeField(allow_null=True)
    recovery_id = serializers.IntegerField(allow_null=True)
    recovery_status = serializers.CharField(allow_blank=True)
    recovery_requested_at = serializers.DateTimeField(allow_null=True)


class FeedJournalOut(serializers.ModelSerializer):
    class Meta:
        model = FeedMessage
        fields = [
            "id",
            "routing_key",
            "kind",
            "product",
            "event_urn",
            "message_ts",
            "request_id",
            "body_size",
            "source",
            "received_at",
            "applied_at",
            "outcome",
            "reason",
            "replay_of",
        ]


class FeedJournalQuery(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=selectors.JOURNAL_OUTCOMES, required=False)
    kind = serializers.CharField(required=False, max_length=32)
    event = serializers.CharField(required=False, max_length=64)
    product = serializers.IntegerField(required=False, min_value=0)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


_LINE_EXAMPLE = {
    "market_id": 18,
    "specifiers": "total=2.5",
    "extended_specifiers": "",
    "name": "Total 2.5",
    "status": -3,
    "status_name": "settled",
    "producer_id": 1,
    "producer_up": True,
    "fresh": True,
    "stale_reason": "",
    "odds_updated_at": "2026-03-01T19:40:12.345000Z",
    "last_message_time": "2026-03-01T19:41:02.000000Z",
    "favourite": True,
    "cashout_status": None,
    "bet_stop": {"stopped": False, "next_betstop": None},
    "outcomes": [
        {"id": "12", "name": "over 2.5", "odds": "1.85", "probability": "0.52", "active": False},
        {"id": "13", "name": "under 2.5", "odds": "1.95", "probability": "0.48", "active": False},
    ],
    "settlements": [
        {
            "producer_id": 1,
            "certainty": 2,
            "void_reason": None,
            "void_reason_name": "",
            "message_time": "2026-03-01T21:50:00Z",
            "updated_at": "2026-03-01T21:50:00.120000Z",
            "rolled_back": False,
            "rolled_back_time": None,
            "outcomes": [
                {"id": "12", "name": "over 2.5", "result": 1, "void_factor": None, "dead_heat_factor": None},
                {"id": "13", "name": "under 2.5", "result": 0, "void_factor": None, "dead_heat_factor": None},
            ],
        }
    ],
    "cancels": [
        {
            "producer_id": 1,
            "start_time": "2026-03-01T20:10:00Z",
            "end_time": "2026-03-01T20:11:30Z",
            "void_reason": 12,
            "void_reason_name": "Other",
            "superceded_by": "",
            "active": False,
            "rolled_back": True,
            "cancel_time": "2026-03-01T20:12:00Z",
            "rollback_time": "2026-03-01T20:20:00Z",
        }
    ],
}
_EVENT_EXAMPLE = {
    "event": {
        "event_urn": "sr:match:43000001",
        "name": "IK Oddevold vs. Tvaakers IF",
        "sport_id": 1,
        "sport_name": "Soccer",
        "category_name": "Sweden",
        "tournament_urn": "sr:tournament:68",
        "tournament_name": "Division 1",
        "scheduled": "2026-03-01T19:00:00Z",
        "start_time_tbd": False,
        "competitors": [
            {"id": "sr:competitor:1", "name": "IK Oddevold", "qualifier": "home"},
            {"id": "sr:competitor:2", "name": "Tvaakers IF", "qualifier": "away"},
        ],
        "status": 4,
        "status_name": "closed",
        "match_status": 100,
        "match_status_name": "Ended",
        "home_score": "2",
        "away_score": "1",
        "status_time": "2026-03-01T21:49:00Z",
        "betting_status": None,
        "betting_status_name": "",
        "betstop_reason": None,
        "betstop_reason_name": "",
        "fixture_loaded": True,
    },
    "markets": [_LINE_EXAMPLE],
}


class EventMarkets(APIView):
    required_scope = "feeds"

    @extend_schema(
        responses={200: FeedEventMarketsOut, 404: error("unknown event")},
        summary="An event's whole stored state: status, lines, odds, bet stops, settlements, cancels",
        examples=[OpenApiExample("settled line with a rolled-back cancel", value=_EVENT_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, urn: str) -> Response:
        data = selectors.event_state(urn)
        if data is None:
            return Response({"error": {"code": "not_found", "message": f"unknown event {urn}"}}, status=404)
        return Response(FeedEventMarketsOut(data).data)


class Producers(APIView):
    required_scope = "feeds"

    @extend_schema(
        responses={200: FeedProducerOut(many=True)},
        summary="UOF producer health, with the reason for each state",
        examples=[
            OpenApiExample(
                "live producer recovering",
                value=[
                    {
                        "id": 1,
                        "name": "LO",
                        "status": "recovering",
                        "status_reason": "recovery 42 requested",
                        "status_changed_at": "2026-03-01T19:40:00Z",
                        "usable": False,
                        "subscribed": True,
                        "alive_recent": True,
                        "last_alive_at": "2026-03-01T19:40:10Z",
                        "up_since": None,
                        "recovery_id": 42,
                        "recovery_status": "accepted",
                        "recovery_requested_at": "2026-03-01T19:40:00Z",
                    }
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(FeedProducerOut(selectors.producer_health(), many=True).data)


class Journal(ListAPIView):
    """The message journal, newest first, paged by cursor (no bodies)."""

    required_scope = "feeds"
    serializer_class = FeedJournalOut

    @extend_schema(
        parameters=[
            OpenApiParameter("outcome", str, enum=list(selectors.JOURNAL_OUTCOMES)),
            OpenApiParameter("kind", str, description="message type, e.g. odds_change, bet_settlement"),
            OpenApiParameter("event", str, description="event URN, e.g. sr:match:43000001"),
            OpenApiParameter("product", int, description="producer id"),
            OpenApiParameter("since", str, description="received at or after (ISO-8601)"),
            OpenApiParameter("until", str, description="received before (ISO-8601)"),
        ],
        responses={
            200: FeedJournalOut(many=True),
            400: error("invalid filter (per-field messages in error.fields)"),
            404: error("invalid cursor"),
        },
        summary="The message journal: what became of every message, and why",
        examples=[
            OpenApiExample(
                "a stale settlement",
                value={
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "id": 1207,
                            "routing_key": "lo.-.live.bet_settlement.1.sr:match.43000001.-",
                            "kind": "bet_settlement",
                            "product": 1,
                            "event_urn": "sr:match:43000001",
                            "message_ts": 1772394600000,
                            "request_id": None,
                            "body_size": 512,
                            "source": "amqp",
                            "received_at": "2026-03-01T21:50:00.100000Z",
                            "applied_at": "2026-03-01T21:50:00.120000Z",
                            "outcome": "stale",
                            "reason": "18/total=2.5: older than the rollback",
                            "replay_of": None,
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = FeedJournalQuery(data=self.request.query_params)
        if not query.is_valid():
            raise ValidationError(query.errors)
        q = query.validated_data
        return selectors.journal(
            outcome=q.get("outcome", ""),
            kind=q.get("kind", ""),
            event_urn=q.get("event", ""),
            product=q.get("product"),
            since=q.get("since"),
            until=q.get("until"),
        )
