"""Player protection on the bet path: who may bet now, and the limit counters.

Two checks, both inside the bet's database transaction:

- `gate(wallet)`: self-exclusion, time-out, age and verification, from the player columns the
  wallet read already returned (`selectors.WalletRef`): no round trip.
- the limit counters: for a wallet with limits (`Account.limited`, read with the wallet), the
  posting's own statement carries one more CTE (`counters_cte`) that adds the posting to the
  wallet's `WalletLimits` usage and returns a verdict; `ledger.post` raises for a stake that
  passed a limit (`judge`), and `idempotency.execute_once` rolls the debit back with it. The
  account's row lock (the debit) and the limits row's lock are held until the transaction
  ends, so concurrent bets of one player see each other's usage. Results, refunds and
  rollbacks move the same counters and are never refused. `counters_move` is the same update
  as a statement of its own (SQLite, or a wallet that got limits after it was read).

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


# The limits in the order a bet is judged against them: the first one passed is the refusal,
# its 1-based position the verdict the counter UPDATE returns (0: none passed).
JUDGED = LIMITS
_REFUSALS: dict[int, tuple[type[Exception], str]] = {
    1: (StakeLimitExceeded, "stake per bet"),
    2: (WagerLimitExceeded, "wager per day"),
    3: (WagerLimitExceeded, "wager per week"),
    4: (WagerLimitExceeded, "wager per month"),
    5: (LossLimitExceeded, "net loss per day"),
    6: (LossLimitExceeded, "net loss per week"),
    7: (LossLimitExceeded, "net loss per month"),
    8: (BetCountLimitExceeded, "bets per day"),
}


@cache
def _move_sql(gated: bool) -> str:
    """One UPDATE of the wallet's limits row: usage plus the posting (a period that changed
    restarts from zero), and the bet's verdict computed on the new row. Four parameters for
    the movement (today in the operator's zone, stake, loss, bets) and the account id: every
    value a parameter costs the callback CPU to send, so the week and month starts are derived
    from the day in SQL."""
    delta = {"wager": "p.wag", "loss": "p.lost", "bets": "p.n"}
    sets = [
        f"{c} = CASE WHEN l.{_START[_period_of(c)]} = p.{_period_of(c)[0]} THEN l.{c} ELSE 0 END"
        f" + {delta[c.split('_')[1]]}"
        for c in USED
    ]
    sets += ["day_start = p.d", "week_start = p.w", "month_start = p.m", "updated_at = now()"]
    verdict = ["WHEN l.stake_per_bet < p.wag THEN 1"]
    verdict += [f"WHEN l.used_{name} > l.{name} THEN {i}" for i, name in enumerate(JUDGED[1:], start=2)]
    gate = " AND EXISTS (SELECT 1 FROM moved)" if gated else ""
    return (
        f"UPDATE wallet_walletlimits AS l SET {', '.join(sets)}"
        " FROM (SELECT v.d, date_trunc('week', v.d::timestamp)::date AS w,"
        " date_trunc('month', v.d::timestamp)::date AS m, v.wag, v.lost, v.n"
        " FROM (VALUES (%s::date, %s::numeric, %s::numeric, %s::integer)) AS v(d, wag, lost, n)) AS p"
        f" WHERE l.account_id = %s{gate} RETURNING CASE {' '.join(verdict)} ELSE 0 END AS verdict"
    )


def counters_cte(account_id: int, *, wagered: Decimal, lost: Decimal, bets: int) -> tuple[str, list[Any]]:
    """The counter UPDATE as the CTE `lim` of a posting's statement (PostgreSQL), returning
    `verdict` for `judge`: it runs only when the posting's `moved` CTE moved the balance, so a
    refused debit moves no counter. One round trip fewer than `counters_move`."""
    return f"lim AS ({_move_sql(True)})", [operator_today(), wagered, lost, bets, account_id]


def judge(verdict: int | None, *, who: str = "") -> None:
    """Raise for the limit a bet passed (`verdict` from the counter UPDATE; 0 or None: none)."""
    if verdict:
        error, limit = _REFUSALS[verdict]
        raise error(f"{who}: this bet would pass the {limit} limit")


def counters_move(account_id: int, *, wagered: Decimal, lost: Decimal, bets: int, check: bool, who: str = "") -> None:
    """Add a posting to the wallet's usage this period (`lost` may be negative: money came back).

    `check` (a bet): raise the LimitExceeded subclass for the first limit the bet passes, which
    must roll back the caller's transaction (the debit included). Reaching a limit exactly is
    allowed. Without `check` (results, refunds, rollbacks) nothing is ever refused.
    """
    if rows.db().vendor == "postgresql":
        row = rows.values(_move_sql(False), [operator_today(), wagered, lost, bets, account_id])
        verdict = None if row is None else row[0]
    else:
        now = timezone.now()
        verdict = _move_in_python(account_id, period_starts(now), [wagered] * 3 + [lost] * 3 + [bets], now, wagered)
    if check:
        judge(verdict, who=who)


def _move_in_python(
    account_id: int, starts: tuple[date, ...], deltas: list[Any], now: datetime, stake: Decimal
) -> int | None:
    """SQLite (the demo): read, add in Decimal, write back (its write lock serialises writers);
    the verdict as the PostgreSQL statement computes it."""
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
    caps = [None if v is None else _to_decimal(v) for v in row[3 + len(USED) :]]
    if caps[0] is not None and stake > caps[0]:
        return 1
    for i, (usage, cap) in enumerate(zip(used, caps[1:], strict=True), start=2):
        if cap is not None and usage > cap:
            return i
    return 0
