"""Player protection on the bet path: who may bet now, and the limit counters.

Two checks, both inside the bet's database transaction:

- `gate(wallet)`: self-exclusion, time-out, age and verification, from the player columns the
  wallet read already returned (`selectors.WalletRef`): no round trip.
- `counters_move(…)`: for a wallet with limits (`Account.limited`, returned by the posting's own
  UPDATE), one UPDATE of its `WalletLimits` row after the stake's debit. The account's row lock
  (taken by the debit) and the limits row's lock (taken by this UPDATE) are both held until the
  transaction ends, so concurrent bets of one player see each other's usage; a bet that would
  pass a limit raises, and `idempotency.execute_once` rolls the debit back with it. Results,
  refunds and rollbacks move the same counters and are never refused.

Periods are calendar periods in the operator's time zone (`REPORT_TIMEZONE`): the day from
midnight, the week from Monday, the month from the 1st (docs/PROTECTION.md).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from wallet import conf, rows
from wallet.errors import (
    BetCountLimitExceeded,
    LossLimitExceeded,
    PlayerNotVerified,
    PlayerSelfExcluded,
    PlayerTimedOut,
    PlayerUnderAge,
    StakeLimitExceeded,
    WagerLimitExceeded,
)

# A self-exclusion without an end date.
INDEFINITE = datetime(9999, 12, 31, tzinfo=UTC)
VERIFIED = "verified"
FAILED = "failed"

PERIODS = ("day", "week", "month")


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def operator_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(_zone(conf.REPORT_TIMEZONE)).date()


def period_starts(now: datetime | None = None) -> tuple[date, date, date]:
    """The first days of the current day, week (Monday) and month in the operator's zone."""
    today = operator_today(now)
    return today, today - timedelta(days=today.weekday()), today.replace(day=1)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    # SQLite hands back text or a naive datetime, in UTC.
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def gate(
    *,
    who: str,
    self_excluded_until: Any,
    timed_out_until: Any,
    jurisdiction: str,
    verification: str,
    date_of_birth: Any,
    now: datetime | None = None,
) -> None:
    """Raise the refusal for a player who may not bet now; return if they may."""
    rules = conf.jurisdiction(jurisdiction)
    if self_excluded_until is None and timed_out_until is None and date_of_birth is None:
        if verification == VERIFIED or (not rules.verification_required and verification != FAILED):
            return  # the common case, decided without a clock
    now = now or timezone.now()
    excluded = _aware(self_excluded_until)
    if excluded is not None and excluded > now:
        until = "indefinitely" if excluded >= INDEFINITE else f"until {excluded.isoformat()}"
        raise PlayerSelfExcluded(f"player {who} is self-excluded {until}")
    timed_out = _aware(timed_out_until)
    if timed_out is not None and timed_out > now:
        raise PlayerTimedOut(f"player {who} is on a time-out until {timed_out.isoformat()}")
    born = _date(date_of_birth)
    if born is not None and age_on(born, operator_today(now)) < rules.minimum_age:
        raise PlayerUnderAge(f"player {who} is under {rules.minimum_age} ({rules.name})")
    if verification == FAILED or (rules.verification_required and verification != VERIFIED):
        raise PlayerNotVerified(f"player {who} is {verification}: {rules.name} requires a verified identity")


# --- Counters ----------------------------------------------------------------------------------

USED = (
    "used_wager_day",
    "used_wager_week",
    "used_wager_month",
    "used_loss_day",
    "used_loss_week",
    "used_loss_month",
    "used_bets_day",
)
LIMITS = ("stake_per_bet", "wager_day", "wager_week", "wager_month", "loss_day", "loss_week", "loss_month", "bets_day")
_START = {"day": "day_start", "week": "week_start", "month": "month_start"}


def _period_of(column: str) -> str:
    return column.rsplit("_", 1)[1]


@cache
def _move_sql(gated: bool) -> str:
    sets = [
        f"{c} = CASE WHEN {_START[_period_of(c)]} = %s THEN {c} ELSE 0 END + %s" for c in USED
    ]  # a new period starts from zero
    sets += ["day_start = %s", "week_start = %s", "month_start = %s", "updated_at = %s"]
    gate = " AND EXISTS (SELECT 1 FROM moved)" if gated else ""
    return (
        f"UPDATE wallet_walletlimits SET {', '.join(sets)} WHERE account_id = %s{gate}"
        f" RETURNING {', '.join(USED + LIMITS)}"
    )


def _move_params(account_id: int, wagered: Decimal, lost: Decimal, bets: int) -> list[Any]:
    now = timezone.now()
    starts = period_starts(now)
    params: list[Any] = []
    for column, delta in zip(USED, _deltas(wagered, lost, bets), strict=True):
        params += [starts[PERIODS.index(_period_of(column))], delta]
    params += [*starts, now, account_id]
    return params


def _deltas(wagered: Decimal, lost: Decimal, bets: int) -> list[Any]:
    return [wagered] * 3 + [lost] * 3 + [bets]


# The columns a `counters_cte` returns, in order (for `judge`).
RETURNED = len(USED) + len(LIMITS)


def counters_cte(account_id: int, *, wagered: Decimal, lost: Decimal, bets: int) -> tuple[str, list[Any]]:
    """The counter UPDATE as the CTE `lim` of a posting's statement (PostgreSQL): it runs only
    when the posting's `moved` CTE moved the balance, so a refused debit moves no counter. It
    returns the `RETURNED` columns for `judge`. One round trip fewer than `counters_move`."""
    return f"lim AS ({_move_sql(True)})", _move_params(account_id, wagered, lost, bets)


def judge(row: tuple, *, stake: Decimal, who: str = "") -> None:
    """Raise for the first limit a bet passed, from a `counters_cte` row."""
    used = dict(zip(USED, row[: len(USED)], strict=True))
    limit = dict(zip(LIMITS, row[len(USED) :], strict=True))
    _judge(used, limit, stake=stake, who=who)


def counters_move(account_id: int, *, wagered: Decimal, lost: Decimal, bets: int, check: bool, who: str = "") -> None:
    """Add a posting to the wallet's usage this period (`lost` may be negative: money came back).

    `check` (a bet): raise the LimitExceeded subclass for the first limit the bet passes, which
    must roll back the caller's transaction (the debit included). Reaching a limit exactly is
    allowed. Without `check` (results, refunds, rollbacks) nothing is ever refused.
    """
    if rows.db().vendor == "postgresql":
        row = rows.values(_move_sql(False), _move_params(account_id, wagered, lost, bets))
    else:
        now = timezone.now()
        row = _move_in_python(account_id, period_starts(now), _deltas(wagered, lost, bets), now)
    if row is None or not check:
        return
    judge(row, stake=wagered, who=who)


def _move_in_python(account_id: int, starts: tuple[date, ...], deltas: list[Any], now: datetime) -> tuple | None:
    """SQLite (the demo): read, add in Decimal, write back; its write lock serialises writers."""
    from wallet.ledger import _to_decimal

    row = rows.values(
        f"SELECT day_start, week_start, month_start, {', '.join(USED + LIMITS)} FROM wallet_walletlimits"
        " WHERE account_id = %s",
        [account_id],
    )
    if row is None:
        return None
    current = [_date(v) for v in row[:3]]
    used = []
    for column, value, delta in zip(USED, row[3 : 3 + len(USED)], deltas, strict=True):
        index = PERIODS.index(_period_of(column))
        before = (
            (int(value) if column == "used_bets_day" else _to_decimal(value)) if current[index] == starts[index] else 0
        )
        used.append(before + delta)
    with rows.cursor() as cursor:
        cursor.execute(
            f"UPDATE wallet_walletlimits SET {', '.join(f'{c} = %s' for c in USED)}, day_start = %s,"
            " week_start = %s, month_start = %s, updated_at = %s WHERE account_id = %s",
            [
                *(str(u) if isinstance(u, Decimal) else u for u in used),
                *(str(s) for s in starts),
                rows.db().ops.adapt_datetimefield_value(now),
                account_id,
            ],
        )
    limits = [
        None if v is None else (int(v) if c == "bets_day" else _to_decimal(v))
        for c, v in zip(LIMITS, row[3 + len(USED) :], strict=True)
    ]
    return (*used, *limits)


def _judge(used: dict[str, Any], limit: dict[str, Any], *, stake: Decimal, who: str) -> None:
    if limit["stake_per_bet"] is not None and stake > limit["stake_per_bet"]:
        raise StakeLimitExceeded(f"player {who}: stake {stake} is above the limit of {limit['stake_per_bet']} per bet")
    for period in PERIODS:
        cap = limit[f"wager_{period}"]
        if cap is not None and used[f"used_wager_{period}"] > cap:
            raise WagerLimitExceeded(f"player {who}: this bet would pass the wager limit of {cap} per {period}")
    for period in PERIODS:
        cap = limit[f"loss_{period}"]
        if cap is not None and used[f"used_loss_{period}"] > cap:
            raise LossLimitExceeded(f"player {who}: this bet would pass the net loss limit of {cap} per {period}")
    if limit["bets_day"] is not None and used["used_bets_day"] > limit["bets_day"]:
        raise BetCountLimitExceeded(f"player {who}: this bet would pass the limit of {limit['bets_day']} bets per day")
