"""Fixtures for the ProphetX parlay book: a simulated feed of four games mapped in the database,
and a `desk` that feeds wire-format frames to the dispatcher with a recording poster."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from parlays.conf import LadderRung, ParlaySettings
from parlays.dispatch import Dispatcher
from parlays.models import LineMapping, PxEvent
from parlays.protocol import odds as am
from parlays.protocol.errors import ProphetXAPIError
from parlays.protocol.jsonio import dumps, loads
from parlays.protocol.pusher import Frame
from parlays.protocol.rest import CallbackResult
from parlays.services.confirmations import ConfirmService
from parlays.services.exposure import ExposureView
from parlays.services.lines import LineIndex, derive_mapping
from parlays.services.quotes import QuoteEngine
from parlays.simulator import SimPriceSource, make_games
from parlays.simulator.rfq import ask_payload

BROADCAST = "private-broadcast-service=4-device_type=5"
PRIVATE = "private-service=4-device_type=5-user=abc"


def settings_for_tests(**changes) -> ParlaySettings:
    base = ParlaySettings(
        margin_per_leg=Decimal("0.015"),
        ladder=(LadderRung(Decimal("200"), Decimal("0")), LadderRung(Decimal("1000"), Decimal("0.01"))),
        max_exposure_total=Decimal("5000"),
        max_exposure_event=Decimal("1500"),
        max_exposure_outcome=Decimal("1000"),
        health_timeout_s=30,
    )
    return base.with_changes(**changes)


@dataclass
class RecordingPoster:
    """Stands in for ProphetX's callback endpoints: records bodies, answers 200 (or fails)."""

    calls: list[tuple[str, dict]] = field(default_factory=list)
    status: int = 200
    fail_network: bool = False

    def post_callback(self, url: str, body: bytes) -> CallbackResult:
        self.calls.append((url, loads(body)))
        if self.fail_network:
            raise ProphetXAPIError("connection reset", status=0)
        return CallbackResult(
            self.status, '{"data":{"success":true}}' if self.status < 400 else '{"error_code":"invalid_request"}', 0.1
        )

    def last(self) -> dict:
        return self.calls[-1][1]


def frame(topic: str, payload: dict, channel: str = PRIVATE) -> Frame:
    return Frame(event=topic, channel=channel, data=dumps({"payload": payload, "timestamp": time.time_ns()}).decode())


def map_games(games) -> None:
    for game in games:
        PxEvent.objects.create(sport_event_id=game.px_event_id, name=game.name, event_urn=game.event_urn)
        for market in game.markets:
            for outcome in market.outcomes:
                market_id, specifiers, outcome_id, klass = derive_mapping(
                    market.market_id, outcome.outcome_id, outcome.line
                )
                LineMapping.objects.create(
                    line_id=outcome.line_id,
                    px_sport_event_id=game.px_event_id,
                    px_market_id=market.market_id,
                    px_outcome_id=outcome.outcome_id,
                    px_line=outcome.line,
                    event_urn=game.event_urn,
                    market_id=market_id,
                    specifiers=specifiers,
                    outcome_id=outcome_id,
                    correlation_class=klass,
                )


class Desk:
    """Our side of ProphetX, driven frame by frame."""

    def __init__(self, games, settings: ParlaySettings) -> None:
        self.games = games
        self.settings = settings
        self.prices = SimPriceSource(games)
        self.poster = RecordingPoster()
        index = LineIndex(ttl=0)
        view = ExposureView(settings, ttl=0)
        self.quotes = QuoteEngine(
            settings=settings, price_source=self.prices, poster=self.poster, line_index=index, exposure=view
        )
        self.confirms = ConfirmService(
            settings=settings, price_source=self.prices, poster=self.poster, line_index=index, exposure_view=view
        )
        self.ambiguous: list[str] = []
        self.dispatcher = Dispatcher(
            settings=settings,
            quotes=self.quotes,
            confirmations=self.confirms,
            on_ambiguous_accept=self.ambiguous.append,
        )

    def line(self, game: int, market: int, outcome: int) -> tuple:
        g = self.games[game]
        m = next(x for x in g.markets if x.market_id == market)
        o = next(x for x in m.outcomes if x.outcome_id == outcome)
        return g, m, o

    def ask_payload(self, legs: list[tuple], stake: str = "10", parlay_id: str | None = None) -> dict:
        return ask_payload(
            parlay_id or str(uuid.uuid4()),
            Decimal(stake),
            "https://px.test/parlay/sp/order/offers",
            time.time_ns(),
            legs,
        )

    def ask(self, legs: list[tuple], stake: str = "10", parlay_id: str | None = None) -> tuple[str, str]:
        payload = self.ask_payload(legs, stake, parlay_id)
        return payload["parlay_id"], self.dispatcher.handle(frame("price.ask.new", payload, BROADCAST))

    def offers(self) -> list[dict]:
        return self.poster.last()["offers"]

    def confirm(
        self, parlay_id: str, bettor_odds: int, stake: str | None, order_uuid: str | None = None
    ) -> tuple[str, str]:
        order_uuid = order_uuid or str(uuid.uuid4())
        payload = {
            "parlay_id": parlay_id,
            "order_uuid": order_uuid,
            "callback_url": "https://px.test/parlay/sp/order/confirm",
            "odds": am.bettor_to_sp(bettor_odds),
        }
        if stake is not None:
            payload["stake"] = Decimal(stake)
        return order_uuid, self.dispatcher.handle(frame("price.confirm.new", payload))

    def finalize(self, parlay_id: str, order_uuid: str, bettor_odds: int, stake: str, status: str = "finalized") -> str:
        sp = am.bettor_to_sp(bettor_odds)
        payload = {
            "confirmed_odds": sp,
            "confirmed_stake": Decimal(stake),
            "odds": sp,
            "order_uuid": order_uuid,
            "parlay_id": parlay_id,
            "status": status,
            "updated_at": time.time_ns(),
        }
        return self.dispatcher.handle(frame("order.finalized", payload))

    def settle(self, parlay_id: str, order_uuid: str, result: str, profit: str | None) -> str:
        payload = {
            "order_uuid": order_uuid,
            "parlay_id": parlay_id,
            "settlement_status": result,
            "settled_at": time.time_ns(),
        }
        if profit is not None:
            payload["profit"] = Decimal(profit)
        return self.dispatcher.handle(frame("order.settled", payload))

    def settle_parlay(self, parlay_id: str, result: str, profit: str) -> str:
        payload = {
            "parlay_id": parlay_id,
            "settlement_status": result,
            "settled_at": time.time_ns(),
            "profit": Decimal(profit),
        }
        return self.dispatcher.handle(frame("parlay.settled", payload))


@pytest.fixture
def games():
    return make_games(4, seed=3)


@pytest.fixture
def desk(games) -> Desk:
    map_games(games)
    return Desk(games, settings_for_tests())


def feed_game(game, *, skip: set[str] = frozenset()) -> None:
    """The simulated game's markets as UOF odds_change messages in the feed state (outcomes
    whose ProphetX line id is in `skip` left out: the feed does not offer them)."""
    from tests.feeds.helpers import apply, odds_change

    for market in game.markets:
        offered = {str(o.outcome_id): str(o.odds) for o in market.outcomes if o.line_id not in skip}
        apply(odds_change(event=game.event_urn, markets=[(market.market_id, market.specifiers, 1, offered)]))
