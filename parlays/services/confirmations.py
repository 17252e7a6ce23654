"""Answering price.confirm.new: re-price, check tolerance and exposure, accept or reject.

The decision, the Confirmation row, the Order and its exposure reservations are written in one
durable transaction under the book lock; the answer is POSTed after commit. We always answer
(fail closed with `reject`): a dropped confirmation hangs until ProphetX times out. An accept
whose delivery fails is ambiguous (ProphetX has booked such orders), so the caller schedules
order checks against /parlay/sp/orders.

A repeated price.confirm.new for the same order_uuid gets the stored answer again, and reserves
nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.utils import timezone

from parlays.conf import ParlaySettings
from parlays.models import Confirmation, InboundMessage, Order, QuoteRequest
from parlays.prices import PriceSource
from parlays.pricing import (
    NS,
    Declined,
    LegSpec,
    ParlayPrice,
    PricingParams,
    bettor_stake_for,
    choose_rung,
    price_parlay,
    price_probabilities,
    within_tolerance,
)
from parlays.protocol import odds as am
from parlays.protocol import render
from parlays.protocol.errors import ProphetXAPIError
from parlays.protocol.messages import PRICE_CONFIRM, PriceConfirm
from parlays.services import exposure
from parlays.services.inbound import message_row
from parlays.services.lines import LineIndex
from parlays.services.quotes import CallbackPoster

logger = logging.getLogger("touchline.parlays.confirmations")
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class ConfirmAnswer:
    order_uuid: str
    callback_url: str
    action: str
    reason: str
    body: bytes
    replay: bool = False
    delivery: str = Confirmation.Delivery.PENDING

    @property
    def accepted(self) -> bool:
        return self.action == Confirmation.Action.ACCEPT


@dataclass(frozen=True, slots=True)
class _Accept:
    rung_max_risk: Decimal
    risk: Decimal
    reduced: bool
    reprice_odds: int
    probabilities: tuple[render.LegProbability, ...]
    keys: list[tuple[str, str]]


class ConfirmService:
    def __init__(
        self,
        *,
        settings: ParlaySettings,
        price_source: PriceSource,
        poster: CallbackPoster,
        line_index: LineIndex | None = None,
        exposure_view: exposure.ExposureView | None = None,
        wait_for_quote: Callable[[str, float], None] | None = None,
    ) -> None:
        self.wait_for_quote = wait_for_quote
        self.settings = settings
        self.params = PricingParams.from_settings(settings)
        self.price_source = price_source
        self.poster = poster
        self.line_index = line_index or LineIndex()
        self.exposure_view = exposure_view

    # --- the decision (database only) ----------------------------------------------------------

    def decide(
        self, confirm: PriceConfirm, *, received_at: datetime, raw: str = "", channel: str = ""
    ) -> ConfirmAnswer:
        with transaction.atomic(durable=True):
            exposure.lock_book(self.settings.currency)
            existing = Confirmation.objects.filter(order_uuid=confirm.order_uuid).first()
            if existing is not None:
                message_row(
                    topic=PRICE_CONFIRM,
                    channel=channel,
                    body=raw,
                    status=InboundMessage.Status.DUPLICATE,
                    received_at=received_at,
                    parlay_id=confirm.parlay_id,
                    order_uuid=confirm.order_uuid,
                    error="order_uuid already answered; answer repeated",
                ).save()
                return ConfirmAnswer(
                    existing.order_uuid,
                    confirm.callback_url,
                    existing.action,
                    existing.reason,
                    existing.response_body.encode(),
                    replay=True,
                )
            request = (
                QuoteRequest.objects.filter(parlay_id=confirm.parlay_id).prefetch_related("legs", "offers").first()
            )
            verdict = self._evaluate(confirm, request)
            if isinstance(verdict, Declined):
                body = render.confirm_reject_body(order_uuid=confirm.order_uuid)
                action, reason, detail = Confirmation.Action.REJECT, verdict.reason, verdict.detail
            else:
                body = render.confirm_accept_body(
                    order_uuid=confirm.order_uuid,
                    confirmed_odds=confirm.sp_odds,
                    confirmed_stake=verdict.risk if verdict.reduced else None,
                    price_probability=[render.PriceProbability(verdict.rung_max_risk, verdict.probabilities)],
                    vocabulary=self.settings.vocabulary,
                )
                action, reason, detail = Confirmation.Action.ACCEPT, "", ""
            Confirmation.objects.create(
                order_uuid=confirm.order_uuid,
                parlay_id=confirm.parlay_id,
                request=request,
                callback_url=confirm.callback_url,
                sp_odds=confirm.sp_odds,
                stake=confirm.stake,
                received_at=received_at,
                action=action,
                reason=reason[:64],
                detail=detail[:255],
                confirmed_stake=None if isinstance(verdict, Declined) or not verdict.reduced else verdict.risk,
                reprice_odds=None if isinstance(verdict, Declined) else verdict.reprice_odds,
                response_body=body.decode(),
            )
            if not isinstance(verdict, Declined):
                bettor = am.sp_to_bettor(confirm.sp_odds)
                order = Order.objects.create(
                    order_uuid=confirm.order_uuid,
                    parlay_id=confirm.parlay_id,
                    request=request,
                    currency=self.settings.currency,
                    status=Order.Status.ACCEPTED,
                    bettor_odds=bettor,
                    risk=verdict.risk,
                    bettor_stake=bettor_stake_for(verdict.risk, bettor),
                    accepted_at=timezone.now(),
                )
                exposure.reserve(order, verdict.keys, verdict.risk)
            message_row(
                topic=PRICE_CONFIRM,
                channel=channel,
                body=raw,
                status=InboundMessage.Status.PROCESSED,
                received_at=received_at,
                parlay_id=confirm.parlay_id,
                order_uuid=confirm.order_uuid,
                error=f"{reason}: {detail}" if reason else "",
            ).save()
        if action == Confirmation.Action.ACCEPT and self.exposure_view is not None:
            self.exposure_view.refresh()  # here, off the quote threads
        return ConfirmAnswer(confirm.order_uuid, confirm.callback_url, action, reason, body)

    def _evaluate(self, confirm: PriceConfirm, request: QuoteRequest | None) -> _Accept | Declined:
        if request is None:
            return Declined("unknown_quote", "we never quoted this parlay")
        if request.status != QuoteRequest.Status.QUOTED:
            return Declined("not_quoted", f"our quote for this parlay is {request.status}")
        bettor = am.sp_to_bettor(confirm.sp_odds)
        if bettor < 100:
            return Declined("odds_on_parlay", f"SP-side odds {confirm.sp_odds} mean a bettor price of {bettor}")
        offers = sorted(request.offers.all(), key=lambda o: o.max_risk)
        if not offers:
            return Declined("unknown_quote", "no offers stored for this parlay")
        now_ns = time.time_ns()
        if now_ns > max(o.valid_until_ns for o in offers) + self.settings.confirm_grace_s * NS:
            return Declined("quote_expired", "every offer's valid_until has passed")
        choice = choose_rung([(o.odds, o.max_risk) for o in offers], bettor, confirm.stake)
        if isinstance(choice, Declined):
            return choice
        if choice.reduced and not self.settings.reduce_stake:
            return Declined("above_max_risk", f"risk {confirm.stake} is above our max_risk {choice.risk}")
        risk, reduced = choice.risk, choice.reduced

        legs = list(request.legs.all())
        specs = [
            LegSpec(leg.line_id, leg.event_urn, leg.market_id, leg.specifiers, leg.outcome_id, leg.correlation_class)
            for leg in legs
        ]
        quotes = [
            self.price_source.market_quote(event_urn=s.event_urn, market_id=s.market_id, specifiers=s.specifiers)
            for s in specs
        ]
        price = price_parlay(
            specs,
            quotes,
            self.params,
            now=timezone.now(),
            now_ns=now_ns,
            correlations=self.line_index.correlations,
        )
        if isinstance(price, Declined):
            return Declined(f"reprice_{price.reason}"[:64], price.detail, price.line_id)
        current = _offer_for(price, risk)
        if not within_tolerance(bettor, current, self.settings.confirm_tolerance):
            return Declined("price_moved", f"+{bettor} confirmed, we would now offer +{current}")

        keys = exposure.exposure_keys(exposure.LegKeys(s.event_urn, s.outcome_key) for s in specs)
        # Under the book lock, from the database: a limit Risk just changed decides this one.
        limits = exposure.load_limits(self.settings, keys)
        room = exposure.headroom(keys, exposure.open_exposure(keys), limits)
        if risk > room:
            min_risk = self.settings.min_bettor_stake * Decimal(bettor) / 100
            room = room.quantize(CENT, rounding=ROUND_DOWN)
            if not self.settings.reduce_stake or room < min_risk or room <= 0:
                return Declined("exposure_limit", f"risk {risk} is above the headroom {room}")
            risk, reduced = room, True
        probabilities = price_probabilities(
            [s.line_id for s in specs],
            [leg.correlated_probability for leg in price.legs],
            bettor,
            dp=self.settings.probability_dp,
        )
        return _Accept(offers[choice.rung].max_risk.quantize(CENT), risk, reduced, current, probabilities, keys)

    # --- the answer (network, after commit) ----------------------------------------------------

    def deliver(self, answer: ConfirmAnswer) -> str:
        try:
            result = self.poster.post_callback(answer.callback_url, answer.body)
        except ProphetXAPIError as exc:
            delivery, status, text = Confirmation.Delivery.FAILED, None, str(exc)
        else:
            delivery = Confirmation.Delivery.DELIVERED if result.ok else Confirmation.Delivery.REFUSED
            status, text = result.status, result.body
        try:
            with transaction.atomic():
                Confirmation.objects.filter(order_uuid=answer.order_uuid).update(
                    delivery=delivery, post_status=status, post_response=text[:4000], answered_at=timezone.now()
                )
        except Exception:
            logger.exception("could not record delivery of %s", answer.order_uuid)
        if delivery != Confirmation.Delivery.DELIVERED:
            logger.warning("confirmation %s %s: %s %s", answer.order_uuid, delivery, status, text[:200])
        return delivery

    def handle(
        self, confirm: PriceConfirm, *, received_at: datetime, raw: str = "", channel: str = ""
    ) -> ConfirmAnswer:
        if self.wait_for_quote is not None:
            self.wait_for_quote(confirm.parlay_id, 2.0)  # our offer may still be in the recorder's queue
        try:
            answer = self.decide(confirm, received_at=received_at, raw=raw, channel=channel)
        except Exception as exc:
            logger.exception("confirmation %s failed; rejecting", confirm.order_uuid)
            answer = self._fail_closed(confirm, received_at, raw, channel, exc)
        delivery = self.deliver(answer)
        return ConfirmAnswer(
            answer.order_uuid, answer.callback_url, answer.action, answer.reason, answer.body, answer.replay, delivery
        )

    def _fail_closed(
        self, confirm: PriceConfirm, received_at: datetime, raw: str, channel: str, exc: Exception
    ) -> ConfirmAnswer:
        body = render.confirm_reject_body(order_uuid=confirm.order_uuid)
        try:
            with transaction.atomic():
                existing = Confirmation.objects.filter(order_uuid=confirm.order_uuid).first()
                if existing is not None:
                    # Answered before: never contradict an earlier accept.
                    return ConfirmAnswer(
                        existing.order_uuid,
                        confirm.callback_url,
                        existing.action,
                        existing.reason,
                        existing.response_body.encode(),
                        replay=True,
                    )
                else:
                    Confirmation.objects.create(
                        order_uuid=confirm.order_uuid,
                        parlay_id=confirm.parlay_id,
                        callback_url=confirm.callback_url,
                        sp_odds=confirm.sp_odds,
                        stake=confirm.stake,
                        received_at=received_at,
                        action=Confirmation.Action.REJECT,
                        reason="internal_error",
                        detail=f"{type(exc).__name__}: {exc}"[:255],
                        response_body=body.decode(),
                    )
                message_row(
                    topic=PRICE_CONFIRM,
                    channel=channel,
                    body=raw,
                    status=InboundMessage.Status.FAILED,
                    received_at=received_at,
                    parlay_id=confirm.parlay_id,
                    order_uuid=confirm.order_uuid,
                    error=f"{type(exc).__name__}: {exc}",
                ).save()
        except Exception:
            logger.exception("could not even record the rejection of %s", confirm.order_uuid)
        return ConfirmAnswer(
            confirm.order_uuid, confirm.callback_url, Confirmation.Action.REJECT, "internal_error", body
        )


def _offer_for(price: ParlayPrice, risk: Decimal) -> int:
    for offer in price.offers:
        if offer.max_risk >= risk:
            return offer.odds
    return price.offers[-1].odds
