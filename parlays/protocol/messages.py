"""ProphetX parlay topics: payload dicts in, frozen dataclasses out.

Both vocabularies are accepted (docs/prophetx.md §11): odds/price, stake/quantity,
line_id/strike_id, market_lines/market_strikes, won/lost and profit/loss. Every field is checked;
a payload that fails any check raises `ProtocolError` and nothing is applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from parlays.protocol.errors import ProtocolError, UnknownTopic
from parlays.protocol.odds import check_american, normalise
from wallet.money import ExponentDecimal

PRICE_ASK = "price.ask.new"
PRICE_CONFIRM = "price.confirm.new"
ORDER_MATCHED = "order.matched"
ORDER_FINALIZED = "order.finalized"
ORDER_SETTLED = "order.settled"
PARLAY_SETTLED = "parlay.settled"
HEALTH_CHECK = "health_check"
REFUND_PROCESSED = "refund.processed"
# Seen on production private channels; stored, not acted on.
INFORMATIONAL = ("parlay.processing", "parlay.finalized")
TOPICS = (
    PRICE_ASK,
    PRICE_CONFIRM,
    ORDER_MATCHED,
    ORDER_FINALIZED,
    ORDER_SETTLED,
    PARLAY_SETTLED,
    HEALTH_CHECK,
    REFUND_PROCESSED,
)

SETTLEMENT_STATUSES = {
    "won": "won",
    "win": "won",
    "profit": "won",
    "lost": "lost",
    "loss": "lost",
    "lose": "lost",
    "push": "push",
    "void": "void",
    "tbd": "tbd",
}

# ns epochs between 2001 and 2100: catches a value sent in ms or s by mistake.
_NS_MIN = 1_000_000_000 * 1_000_000_000
_NS_MAX = 4_102_444_800 * 1_000_000_000
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LINE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The seed's samples went through a typesetter: en/em dashes and minus signs inside ids.
_TYPOGRAPHIC_DASHES = str.maketrans(
    {"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-"}
)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class MarketLine:
    line_id: str
    market_id: int
    outcome_id: int
    sport_event_id: int
    line: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriceAsk:
    parlay_id: str
    stake: Decimal
    callback_url: str
    created_at_ns: int
    market_lines: tuple[MarketLine, ...]
    creator_id: str = ""
    tournament_id: int | None = None
    timestamp_ns: int | None = None


@dataclass(frozen=True, slots=True)
class PriceConfirm:
    parlay_id: str
    order_uuid: str
    callback_url: str
    sp_odds: int  # SP side: the bettor's price negated
    stake: Decimal | None  # SP risk (the bettor's to-win); absent in the docs' shape
    timestamp_ns: int | None = None


@dataclass(frozen=True, slots=True)
class OrderMatched:
    parlay_id: str
    matched_odds: int  # sign unreliable (docs +188, production SP-side negative)
    matched_stake: Decimal
    matched_at_ns: int | None
    market_lines: tuple[MarketLine, ...]
    timestamp_ns: int | None = None

    @property
    def bettor_odds(self) -> int:
        # Decision (docs/prophetx.md): no SP offers odds-on parlays, so the bettor side is |odds|.
        return abs(self.matched_odds)


@dataclass(frozen=True, slots=True)
class OrderFinalized:
    parlay_id: str
    order_uuid: str
    status: str
    sp_odds: int | None
    confirmed_odds: int | None
    confirmed_stake: Decimal | None
    updated_at_ns: int | None
    timestamp_ns: int | None = None


@dataclass(frozen=True, slots=True)
class OrderSettled:
    order_uuid: str
    parlay_id: str
    settlement_status: str  # won / lost / push / void / tbd, from the SP's side
    settled_at_ns: int | None
    profit: Decimal | None
    timestamp_ns: int | None = None


@dataclass(frozen=True, slots=True)
class ParlaySettled:
    parlay_id: str
    settlement_status: str
    settled_at_ns: int | None
    profit: Decimal | None
    timestamp_ns: int | None = None


@dataclass(frozen=True, slots=True)
class HealthCheck:
    timestamp_ns: int | None = None


@dataclass(frozen=True, slots=True)
class RefundProcessed:
    """Payload undocumented [open]: we take the ids and amount when present and keep the rest raw."""

    order_uuid: str
    parlay_id: str
    amount: Decimal | None
    timestamp_ns: int | None = None


# --- field readers ---------------------------------------------------------------------------


def _pick(payload: Mapping[str, Any], *names: str, required: bool = True) -> Any:
    for name in names:
        if name in payload and payload[name] is not None:
            return payload[name]
    if required:
        raise ProtocolError(f"missing field {names[0]}", field=names[0])
    return None


def read_uuid(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{field} must be a string", field=field)
    text = value.strip().translate(_TYPOGRAPHIC_DASHES)
    if not _UUID.match(text):
        raise ProtocolError(f"{field} {value!r} is not a UUID", field=field)
    return text.lower()


def read_line_id(value: Any, field: str = "line_id") -> str:
    if not isinstance(value, str) or not _LINE_ID.match(value):
        raise ProtocolError(f"{field} {value!r} is not a line id", field=field)
    return value


def read_int(value: Any, field: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ProtocolError(f"{field} must be an integer", field=field)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ProtocolError(f"{field} must be an integer, got {value!r}", field=field)
    if minimum is not None and value < minimum:
        raise ProtocolError(f"{field} must be >= {minimum}", field=field)
    return value


def read_ns(value: Any, field: str) -> int:
    number = read_int(value, field)
    if not _NS_MIN <= number <= _NS_MAX:
        raise ProtocolError(f"{field} {number} is not a nanosecond epoch", field=field)
    return number


def read_money(value: Any, field: str, *, allow_zero: bool = False, signed: bool = False) -> Decimal:
    """A JSON number (or numeric string) as Decimal at cents. Floats never reach here (money.loads).

    Sandbox values carry float tails (1349.049722844427): rounded half-up to the cent.
    """
    if isinstance(value, bool) or value is None:
        raise ProtocolError(f"{field} must be a number", field=field)
    if isinstance(value, float):
        raise ProtocolError(f"{field} was parsed as a float", field=field)
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal) and not isinstance(value, ExponentDecimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except ArithmeticError:
            raise ProtocolError(f"{field} {value!r} is not a number", field=field) from None
    else:
        raise ProtocolError(f"{field} must be a plain number, got {value!r}", field=field)
    if not amount.is_finite() or abs(amount) >= Decimal("1e15"):
        raise ProtocolError(f"{field} is out of range", field=field)
    if amount < 0 and not signed:
        raise ProtocolError(f"{field} must not be negative", field=field)
    if amount == 0 and not allow_zero:
        raise ProtocolError(f"{field} must be greater than zero", field=field)
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def read_line_value(value: Any, field: str = "line") -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, float) or isinstance(value, ExponentDecimal):
        raise ProtocolError(f"{field} must be a plain number", field=field)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite() and abs(value) < 100000:
        return value
    raise ProtocolError(f"{field} {value!r} is not a line", field=field)


def read_url(value: Any, field: str = "callback_url") -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")) or len(value) > 2048:
        raise ProtocolError(f"{field} must be an http(s) URL", field=field)
    if any(ch.isspace() for ch in value):
        raise ProtocolError(f"{field} must not contain spaces", field=field)
    return value


def read_settlement_status(value: Any, field: str = "settlement_status") -> str:
    if not isinstance(value, str) or value.strip().lower() not in SETTLEMENT_STATUSES:
        raise ProtocolError(f"{field} {value!r} is not a settlement status", field=field)
    return SETTLEMENT_STATUSES[value.strip().lower()]


def _odds(value: Any, field: str) -> int:
    return normalise(check_american(value, field=field))


def _market_lines(payload: Mapping[str, Any]) -> tuple[MarketLine, ...]:
    raw = _pick(payload, "market_lines", "market_strikes")
    if not isinstance(raw, list):
        raise ProtocolError("market_lines must be a list", field="market_lines")
    lines = []
    for index, item in enumerate(raw):
        where = f"market_lines[{index}]"
        if not isinstance(item, Mapping):
            raise ProtocolError(f"{where} must be an object", field=where)
        lines.append(
            MarketLine(
                line_id=read_line_id(_pick(item, "line_id", "strike_id"), f"{where}.line_id"),
                market_id=read_int(_pick(item, "market_id"), f"{where}.market_id", minimum=0),
                outcome_id=read_int(_pick(item, "outcome_id"), f"{where}.outcome_id", minimum=0),
                sport_event_id=read_int(_pick(item, "sport_event_id"), f"{where}.sport_event_id", minimum=0),
                line=read_line_value(_pick(item, "line", "strike", required=False), f"{where}.line"),
            )
        )
    return tuple(lines)


def _optional_ns(payload: Mapping[str, Any], *names: str) -> int | None:
    value = _pick(payload, *names, required=False)
    return None if value is None else read_ns(value, names[0])


# --- topics ----------------------------------------------------------------------------------


def parse_price_ask(payload: Mapping[str, Any], timestamp_ns: int | None = None) -> PriceAsk:
    lines = _market_lines(payload)
    if not lines:
        raise ProtocolError("market_lines is empty", field="market_lines")
    seen: set[str] = set()
    for line in lines:
        if line.line_id in seen:
            raise ProtocolError(f"line {line.line_id} appears twice", field="market_lines")
        seen.add(line.line_id)
    tournament = _pick(payload, "tournament_id", required=False)
    creator = _pick(payload, "creator_id", required=False)
    return PriceAsk(
        parlay_id=read_uuid(_pick(payload, "parlay_id"), "parlay_id"),
        stake=read_money(_pick(payload, "stake", "quantity"), "stake"),
        callback_url=read_url(_pick(payload, "callback_url")),
        created_at_ns=read_ns(_pick(payload, "created_at"), "created_at"),
        market_lines=lines,
        creator_id="" if creator is None else str(creator)[:64],
        tournament_id=None if tournament is None else read_int(tournament, "tournament_id"),
        timestamp_ns=timestamp_ns,
    )


def parse_price_confirm(payload: Mapping[str, Any], timestamp_ns: int | None = None) -> PriceConfirm:
    stake = _pick(payload, "stake", "quantity", required=False)
    return PriceConfirm(
        parlay_id=read_uuid(_pick(payload, "parlay_id"), "parlay_id"),
        order_uuid=read_uuid(_pick(payload, "order_uuid"), "order_uuid"),
        callback_url=read_url(_pick(payload, "callback_url")),
        # Kept as sent (not evens-normalised): our answer echoes it byte for byte.
        sp_odds=check_american(_pick(payload, "odds", "price"), field="odds"),
        stake=None if stake is None else read_money(stake, "stake"),
        timestamp_ns=timestamp_ns,
    )


def parse_order_matched(payload: Mapping[str, Any], timestamp_ns: int | None = None) -> OrderMatched:
    lines = _market_lines(payload) if ("market_lines" in payload or "market_strikes" in payload) else ()
    return OrderMatched(
        parlay_id=read_uuid(_pick(payload, "parlay_id"), "parlay_id"),
        matched_odds=_odds(_pick(payload, "matched_odds", "matched_price"), "matched_odds"),
        matched_stake=read_money(_pick(payload, "matched_stake", "matched_quantity"), "matched_stake"),
        matched_at_ns=_optional_ns(payload, "matched_at"),
        market_lines=lines,
        timestamp_ns=_optional_ns(payload, "timestamp") or timestamp_ns,
    )


def parse_order_finalized(payload: Mapping[str, Any], timestamp_ns: int | None = None) -> OrderFinalized:
    status = _pick(payload, "status", required=False) or "finalized"
    if not isinstance(status, str) or len(status) > 32:
        raise ProtocolError("status must be a short string", field="status")
    odds = _pick(payload, "odds", "price", required=False)
    confirmed_odds = _pick(payload, "confirmed_odds", "confirmed_price", required=False)
    stake = _pick(payload, "confirmed_stake", "confirmed_quantity", required=False)
    return OrderFinalized(
        parlay_id=read_uuid(_pick(payload, "parlay_id"), "parlay_id"),
        order_uuid=read_uuid(_pick(payload, "order_uuid"), "order_uuid"),
        status=status.lower(),
        sp_odds=None if odds is None else _odds(odds, "odds"),
        confirmed_odds=None if confirmed_odds is None else _odds(confirmed_odds, "confirmed_odds"),
        confirmed_stake=None if stake is None else read_money(stake, "confirmed_stake"),
        updated_at_ns=_optional_ns(payload, "updated_at"),
        timestamp_ns=timestamp_ns,
    )


def parse_order_settled(payload: Mapping[str, Any], timestamp_ns: int | None = None) -> OrderSettled:
    profit = _pick(payload, "profit", required=False)
    return OrderSettled(
        order_uuid=read_uuid(_pick(payload, "order_uuid"), "order_uuid"),
        parlay_id=read_uuid(_pick(payload, "parlay_id"), "parlay_id"),
        settlement_status=read_settlement_status(_pick(payload, "settlement_status", "status")),
        settled_at_ns=_optional_ns(payload, "settled_at"),
        profit=None if profit is None else read_money(profit, "profit", allow_zero=True, signed=True),
        timestamp_ns=timestamp_ns,
    )


def parse_parlay_settled(payload: Mapping[str, Any], timestamp_ns: int | None = None) -> ParlaySettled:
    profit = _pick(payload, "profit", required=False)
    return ParlaySettled(
        parlay_id=read_uuid(_pick(payload, "parlay_id"), "parlay_id"),
        settlement_status=read_settlement_status(_pick(payload, "settlement_status", "status")),
        settled_at_ns=_optional_ns(payload, "settled_at"),
        profit=None if profit is None else read_money(profit, "profit", allow_zero=True, signed=True),
        timestamp_ns=timestamp_ns,
    )


def parse_health_check(payload: Mapping[str, Any], timestamp_ns: int | None = None) -> HealthCheck:
    return HealthCheck(timestamp_ns=timestamp_ns)


def parse_refund_processed(payload: Mapping[str, Any], timestamp_ns: int | None = None) -> RefundProcessed:
    order = _pick(payload, "order_uuid", required=False)
    parlay = _pick(payload, "parlay_id", required=False)
    if order is None and parlay is None:
        raise ProtocolError("refund.processed names neither order_uuid nor parlay_id", field="order_uuid")
    amount = _pick(payload, "amount", "refund_amount", "refunded_amount", required=False)
    return RefundProcessed(
        order_uuid="" if order is None else read_uuid(order, "order_uuid"),
        parlay_id="" if parlay is None else read_uuid(parlay, "parlay_id"),
        amount=None if amount is None else read_money(amount, "amount", allow_zero=True, signed=True),
        timestamp_ns=timestamp_ns,
    )


PARSERS = {
    PRICE_ASK: parse_price_ask,
    PRICE_CONFIRM: parse_price_confirm,
    ORDER_MATCHED: parse_order_matched,
    ORDER_FINALIZED: parse_order_finalized,
    ORDER_SETTLED: parse_order_settled,
    PARLAY_SETTLED: parse_parlay_settled,
    HEALTH_CHECK: parse_health_check,
    REFUND_PROCESSED: parse_refund_processed,
}


def parse_topic(topic: str, envelope: Mapping[str, Any]) -> Any:
    """The topic's dataclass from the decoded `data` envelope `{"payload": {...}, "timestamp": ns}`."""
    parser = PARSERS.get(topic)
    if parser is None:
        raise UnknownTopic(f"unknown topic {topic!r}")
    if not isinstance(envelope, Mapping):
        raise ProtocolError("data must be a JSON object")
    payload = envelope.get("payload")
    if payload is None and topic == HEALTH_CHECK:
        payload = {}
    if not isinstance(payload, Mapping):
        raise ProtocolError("payload must be an object", field="payload")
    timestamp = envelope.get("timestamp")
    timestamp_ns = None if timestamp is None else read_ns(timestamp, "timestamp")
    return parser(payload, timestamp_ns)
