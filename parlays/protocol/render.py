"""Callback bodies we POST to ProphetX: offers (to price.ask.new's callback_url) and confirmations
(to price.confirm.new's callback_url). Pure: dataclasses in, JSON bytes out.

`vocabulary="cftc"` renders the post-2026 names (price, quantity, strike_id); ProphetX has not
published the v2 callback shapes, so that spelling is our reading of the rename [decision].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from parlays.protocol.jsonio import dumps


@dataclass(frozen=True, slots=True)
class LegPrice:
    line_id: str
    odds: int  # bettor-side American


@dataclass(frozen=True, slots=True)
class Offer:
    odds: int  # bettor-side American, >= +100
    max_risk: Decimal  # our liability cap
    valid_until_ns: int
    estimated_price: tuple[LegPrice, ...]


@dataclass(frozen=True, slots=True)
class LegProbability:
    line_id: str
    probability: Decimal


@dataclass(frozen=True, slots=True)
class PriceProbability:
    max_risk: Decimal
    lines: tuple[LegProbability, ...]


def _names(vocabulary: str) -> dict[str, str]:
    if vocabulary == "cftc":
        return {
            "odds": "price",
            "line_id": "strike_id",
            "confirmed_odds": "confirmed_price",
            "confirmed_stake": "confirmed_quantity",
        }
    return {
        "odds": "odds",
        "line_id": "line_id",
        "confirmed_odds": "confirmed_odds",
        "confirmed_stake": "confirmed_stake",
    }


def offers_body(parlay_id: str, offers: Sequence[Offer], *, vocabulary: str = "legacy") -> bytes:
    n = _names(vocabulary)
    return dumps(
        {
            "parlay_id": parlay_id,
            "offers": [
                {
                    "valid_until": offer.valid_until_ns,
                    n["odds"]: offer.odds,
                    "max_risk": offer.max_risk,
                    "estimated_price": [
                        {n["line_id"]: leg.line_id, n["odds"]: leg.odds} for leg in offer.estimated_price
                    ],
                }
                for offer in offers
            ],
        }
    )


def confirm_accept_body(
    *,
    order_uuid: str,
    confirmed_odds: int,
    price_probability: Sequence[PriceProbability],
    confirmed_stake: Decimal | None = None,
    vocabulary: str = "legacy",
) -> bytes:
    """`confirmed_odds` echoes the event's SP-side odds; `confirmed_stake` only when we reduce it."""
    n = _names(vocabulary)
    body: dict = {"order_uuid": order_uuid, "action": "accept", n["confirmed_odds"]: confirmed_odds}
    if confirmed_stake is not None:
        body[n["confirmed_stake"]] = confirmed_stake
    body["price_probability"] = [
        {
            "max_risk": entry.max_risk,
            "lines": [{n["line_id"]: leg.line_id, "probability": leg.probability} for leg in entry.lines],
        }
        for entry in price_probability
    ]
    return dumps(body)


def confirm_reject_body(*, order_uuid: str) -> bytes:
    return dumps({"order_uuid": order_uuid, "action": "reject"})
