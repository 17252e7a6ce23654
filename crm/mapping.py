"""Fast Track SPORTSBOOK events from wallet facts: pure functions, no database, no I/O.

The outbox (crm/outbox.py) gathers the facts (a bet, a settlement, the balances frozen when
the money moved) into the named tuples below; these functions turn them into the event
dictionary and the exact bytes sent. Rules and the decisions behind them are in
docs/fasttrack.md; the shape is checked by crm/schema/sportsbook.schema.json.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from wallet import currencies

UNDEFINED = "Undefined"  # FT's documented default for unknown names
BET = "Bet"
SETTLEMENT = "Settlement"
APPROVED = "Approved"
ROLLBACK = "Rollback"

_ODDS_QUANTUM = Decimal("0.000001")


# --- Identifiers ----------------------------------------------------------------------------


def bet_activity_id(prefix: str, bet_id: int) -> str:
    return f"{prefix}-bet-{bet_id}"


def settlement_activity_id(prefix: str, settlement_id: int) -> str:
    return f"{prefix}-settle-{settlement_id}"


def result_activity_id(prefix: str, transaction_id: int) -> str:
    """An unlinked result (no bet): named after the ledger transaction that paid it."""
    return f"{prefix}-result-{transaction_id}"


def rollback_activity_id(target_activity_id: str) -> str:
    """An event is rolled back at most once, so its rollback can be named after it."""
    return f"{target_activity_id}-rollback"


# --- Scalars --------------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """Zero-padded RFC3339 in UTC with milliseconds: 2025-01-15T08:27:58.721Z.

    FT's own example (2015-03-02T8:27:58.10Z) has a one-digit hour and is not RFC3339.
    """
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    utc = moment.astimezone(UTC)
    if utc.year < 1000:  # strftime does not pad the year (isoformat would: 0999)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    # isoformat truncates to milliseconds as `microsecond // 1000` does, at a fraction of
    # strftime's cost (two timestamps an event on the delivery worker: issue #18).
    return utc.isoformat(timespec="milliseconds")[:-6] + "Z"


_LOOSE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?$")


def parse_event_date(value: Any) -> datetime | None:
    """A selection's event_date (ISO-8601; Betsy's zone-less 'YYYY-MM-DD hh:mm:ss' is UTC).

    Returns None for anything unparseable: the caller falls back, it never guesses a zone.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # Zone-less with a one-digit hour (as in FT's own example): read it field by field.
        match = _LOOSE.match(text)
        if not match:
            return None
        year, month, day, hour, minute, second, fraction = match.groups()
        try:
            parsed = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second or 0),
                int((fraction or "0").ljust(6, "0")),
            )
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def money(amount: Decimal, currency: str) -> Decimal:
    """An amount at its currency's precision (the ledger stores 8 places)."""
    return amount.quantize(_quantum(currency))


@lru_cache(maxsize=256)
def _quantum(currency: str) -> Decimal:
    # Made once per currency, not for each of an event's eight amounts (issue #18).
    return currencies.quantum(currency) if currencies.is_supported(currency) else Decimal("0.00000001")


def parse_odds(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool | float):
        return None
    try:
        odds = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not odds.is_finite() or odds <= 0:
        return None
    return odds


def plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without ever producing exponent notation (10, not 1E+1)."""
    return Decimal(format(value.normalize(), "f"))


# --- Results ----------------------------------------------------------------------------------

# Provider result words (Betsy resultType, IGPX none) to FT's settlement_type.
_SETTLEMENT_TYPES = {
    "won": "Won",
    "win": "Won",
    "lost": "Lost",
    "lose": "Lost",
    "loss": "Lost",
    "halfwon": "HalfWon",
    "half_won": "HalfWon",
    "halflost": "HalfLost",
    "half_lost": "HalfLost",
    "cancelled": "Cancelled",
    "canceled": "Cancelled",
    "cancel": "Cancelled",
    "refund": "Refunded",
    "refunded": "Refunded",
    "void": "Refunded",
}
CASHOUT_RESULTS = frozenset({"cashout", "cash_out", "cash-out"})


def is_cashout(result: str) -> bool:
    return result.strip().lower() in CASHOUT_RESULTS


def settlement_type(result: str, amount: Decimal) -> str | None:
    """FT's settlement_type; None (field left out) for a cash-out, as FT's own examples do.

    An empty or unknown result word is read from the amount: nothing paid is Lost, a payout Won.
    """
    word = result.strip().lower()
    if word in CASHOUT_RESULTS:
        return None
    if word in _SETTLEMENT_TYPES:
        return _SETTLEMENT_TYPES[word]
    return "Lost" if amount == 0 else "Won"


# --- Bets ---------------------------------------------------------------------------------------

# Markets made of several criteria: one outcome per part (seed 004, rule 6).
COMPOUND_MARKETS: dict[str, tuple[str, ...]] = {
    "scorecast": ("Goalscorer", "Correct Result"),
    "wincast": ("Goalscorer", "Match Result"),
}
_PART_SEPARATORS = (" & ", " + ", ", ")


def outcomes_for(market: str, outcome: str) -> list[dict[str, Any]]:
    """criterion_name equals the market, except for compound markets such as Scorecast."""
    parts = COMPOUND_MARKETS.get(market.strip().lower())
    if not parts:
        return [{"criterion_name": market, "outcome_label": outcome}]
    for separator in _PART_SEPARATORS:
        labels = [label.strip() for label in outcome.split(separator)]
        if len(labels) == len(parts) and all(labels):
            return [{"criterion_name": p, "outcome_label": label} for p, label in zip(parts, labels, strict=True)]
    # The label does not split into the parts: each criterion carries the whole label.
    return [{"criterion_name": p, "outcome_label": outcome} for p in parts]


def _text(value: Any) -> str:
    if value is None:
        return UNDEFINED
    text = str(value).strip()
    return text or UNDEFINED


def bet_objects(selections: Sequence[Mapping[str, Any]], *, total_odds: Decimal, fallback_start: datetime) -> list:
    """FT Bet objects, one per selection; one placeholder when the provider sent none.

    A selection without its own odds gets the bet's total odds when it is the only one,
    else 0 (unknown). A missing match start falls back to `fallback_start` (the placement
    time): the field is required and "Undefined" is not a date.
    """
    if not selections:
        selections = [{}]
    single = len(selections) == 1
    result = []
    for selection in selections:
        odds = parse_odds(selection.get("odds"))
        if odds is None:
            odds = total_odds if single else Decimal(0)
        start = parse_event_date(selection.get("event_date")) or fallback_start
        market = _text(selection.get("market"))
        result.append(
            {
                "event_name": _text(selection.get("event")),
                "tournament_name": _text(selection.get("tournament")),
                "sports_name": _text(selection.get("sport")),
                "match_start": format_timestamp(start),
                "market": market,
                "odds": plain(odds),
                "is_live": selection.get("is_live") is True,
                "is_free_bet": False,
                "is_risk_free_bet": False,
                "outcomes": outcomes_for(market, _text(selection.get("outcome"))),
            }
        )
    return result


def ft_bet_type(bet_type: str, selection_count: int) -> str:
    """System stays System; otherwise the count decides, so 'Single ⇒ one bet' always holds."""
    if bet_type.lower() == "system":
        return "System"
    return "Multi" if selection_count > 1 else "Single"


def total_odds(odds: Decimal | None, selections: Sequence[Mapping[str, Any]]) -> Decimal:
    """The bet's odds as the provider gave them, else the product of the legs, else 0."""
    if odds is not None and odds > 0:
        return plain(odds)
    legs = [parse_odds(s.get("odds")) for s in selections]
    if legs and all(leg is not None for leg in legs):
        product = Decimal(1)
        for leg in legs:
            product *= leg  # type: ignore[operator]
        return plain(product.quantize(_ODDS_QUANTUM))
    return Decimal(0)


# --- Events -------------------------------------------------------------------------------------


# Named tuples, not frozen dataclasses: as immutable, and built without an object.__setattr__
# per field; the delivery worker builds one or two for every event it sends (issue #18).


class BetFacts(NamedTuple):
    """The bet as placed: these columns of wallet.Bet never change after placement."""

    provider: str
    currency: str
    stake: Decimal
    stake_real: Decimal
    stake_bonus: Decimal
    odds: Decimal | None
    bet_type: str
    selections: Sequence[Mapping[str, Any]]
    placed_at: datetime


class Envelope(NamedTuple):
    """What every event carries: identity, time, player, balances, rate."""

    activity_id: str
    reference: str
    event_type: str
    status: str
    user_id: str
    currency: str
    occurred_at: datetime
    balance_before: Decimal
    balance_after: Decimal
    exchange_rate: Decimal
    origin: str
    extra: Mapping[str, Any] = MappingProxyType({})


def _head(env: Envelope, bet_type: str, amount: Decimal, real: Decimal, bonus: Decimal, odds: Decimal) -> dict:
    cur = env.currency
    return {
        "activity_id": env.activity_id,
        "activity_id_reference": env.reference,
        "type": env.event_type,
        "status": env.status,
        "bet_type": bet_type,
        "amount": money(amount, cur),
        "wager_amount": money(real, cur),
        "bonus_wager_amount": money(bonus, cur),
        "locked_wager_amount": money(Decimal(0), cur),
        "odds": odds,
        "currency": cur,
        "exchange_rate": plain(env.exchange_rate),
        "origin": env.origin,
        "timestamp": format_timestamp(env.occurred_at),
        "user_id": env.user_id,
        # Seed: "0" when the round has no bonus wager. The wallet does not track which bonus
        # funded a stake yet, so a bonus-funded bet also says "0" (docs/fasttrack.md).
        "user_bonus_id": "0",
        "is_cashout": False,
        "balance_before": money(env.balance_before, cur),
        "balance_after": money(env.balance_after, cur),
    }


def bet_event(env: Envelope, bet: BetFacts) -> dict[str, Any]:
    """A Bet event (Approved on placement, Rollback when the bet is cancelled)."""
    odds = total_odds(bet.odds, bet.selections)
    payload = _head(
        env, ft_bet_type(bet.bet_type, len(bet.selections)), bet.stake, bet.stake_real, bet.stake_bonus, odds
    )
    payload["bets"] = bet_objects(bet.selections, total_odds=odds, fallback_start=bet.placed_at)
    payload["sportsbook_vendor_name"] = bet.provider
    payload.update(env.extra)
    return payload


def settlement_event(
    env: Envelope,
    bet: BetFacts,
    *,
    payout: Decimal,
    result: str,
    reference_exchange_rate: Decimal,
) -> dict[str, Any]:
    """A Settlement of a known bet: amount is the payout in force (0 when lost).

    Payouts are credited as real money, so wager_amount carries the whole amount and
    amount = wager + bonus + locked holds on every event. The original selections are
    repeated (docs/fasttrack.md §6) and reference_bet_* describe the stake.
    """
    odds = total_odds(bet.odds, bet.selections)
    payload = _head(env, ft_bet_type(bet.bet_type, len(bet.selections)), payout, payout, Decimal(0), odds)
    payload["is_cashout"] = is_cashout(result)
    kind = settlement_type(result, payout)
    if kind is not None:
        payload["settlement_type"] = kind
    payload["bets"] = bet_objects(bet.selections, total_odds=odds, fallback_start=bet.placed_at)
    payload["reference_bet_amount"] = money(bet.stake, env.currency)
    payload["reference_bet_real_amount"] = money(bet.stake_real, env.currency)
    payload["reference_bet_bonus_amount"] = money(bet.stake_bonus, env.currency)
    payload["reference_bet_locked_amount"] = money(Decimal(0), env.currency)
    payload["reference_bet_exchange_rate"] = plain(reference_exchange_rate)
    payload["sportsbook_vendor_name"] = bet.provider
    payload.update(env.extra)
    return payload


def unlinked_result_event(env: Envelope, *, payout: Decimal, provider: str) -> dict[str, Any]:
    """A payout the provider did not tie to a bet (IGPX `result`).

    Nothing is known of the bet: one placeholder selection, odds 0, reference_bet_* zero at
    today's rate, empty reference. Our row is flagged `unlinked` for staff.
    """
    payload = _head(env, "Single", payout, payout, Decimal(0), Decimal(0))
    kind = settlement_type("", payout)
    payload["settlement_type"] = kind
    payload["bets"] = bet_objects([], total_odds=Decimal(0), fallback_start=env.occurred_at)
    for key in ("amount", "real_amount", "bonus_amount", "locked_amount"):
        payload[f"reference_bet_{key}"] = money(Decimal(0), env.currency)
    payload["reference_bet_exchange_rate"] = plain(env.exchange_rate)
    payload["sportsbook_vendor_name"] = provider
    payload.update(env.extra)
    return payload


def rollback_event(original: Mapping[str, Any], env: Envelope) -> dict[str, Any]:
    """Cancel an earlier event: the same amounts and selections, status Rollback, a new id,
    time, balances and rate; the reference stays the bet's activity_id."""
    payload = dict(original)
    payload["activity_id"] = env.activity_id
    payload["activity_id_reference"] = env.reference
    payload["status"] = ROLLBACK
    payload["timestamp"] = format_timestamp(env.occurred_at)
    payload["exchange_rate"] = plain(env.exchange_rate)
    payload["balance_before"] = money(env.balance_before, env.currency)
    payload["balance_after"] = money(env.balance_after, env.currency)
    payload.update(env.extra)
    return payload


# --- Wire format ----------------------------------------------------------------------------------


# Decimals go through json.dumps as a marked string and are unquoted afterwards: the C
# encoder does the work, and no number ever passes through a binary float. The marks hold a
# random token, so no provider text can imitate them; two str.replace calls take the quotes
# and marks off (a regex substitution with a template cost ~10 µs per event on the delivery
# worker, docs/benchmarks/crm.md).
_TOKEN = secrets.token_hex(8)
_OPEN, _CLOSE = f"dec{_TOKEN}<", f">{_TOKEN}"


def _number(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("amounts must be finite")
        return _OPEN + format(abs(value) if value == 0 else value, "f") + _CLOSE  # never "-0.00"
    if isinstance(value, float):
        raise TypeError("floats are not allowed in Fast Track payloads: use Decimal")
    raise TypeError(f"cannot encode {type(value).__name__}")


_LEAVES = frozenset({str, int, bool, Decimal, type(None)})


def _reject_floats(value: Any) -> None:
    """json.dumps writes floats itself (default() never sees them): refuse them up front.
    One pass over the payload with exact type checks (an isinstance against Mapping per node
    was a third of the delivery worker's CPU per event)."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind in _LEAVES:
            continue
        if kind is dict:
            extend(item.values())
        elif kind is list or kind is tuple:
            extend(item)
        elif isinstance(item, float):
            raise TypeError("floats are not allowed in Fast Track payloads: use Decimal")
        elif isinstance(item, Mapping):
            extend(item.values())
        elif isinstance(item, list | tuple):
            extend(item)
        # anything else is default()'s to accept or refuse


_ENCODER = json.JSONEncoder(default=_number, ensure_ascii=False, separators=(",", ":"))


def encode(payload: Mapping[str, Any]) -> str:
    """Compact JSON with Decimals written as exact JSON numbers (never via binary floats)."""
    _reject_floats(payload)
    # json.dumps(payload, default=_number, ensure_ascii=False, separators=(",", ":")) would build
    # this same encoder for every event; it keeps no state between calls.
    text = _ENCODER.encode(payload)
    return text.replace('"' + _OPEN, "").replace(_CLOSE + '"', "")
