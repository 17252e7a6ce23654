"""Domain: the report table (day/week/month) built from stored rollups, its totals, conversions
and chart series. The admin page, its CSV/XLSX exports and the operator API all render this one
structure, so an export holds exactly what the page shows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from reports import conf
from reports.models import DailyRollup, PlayerActivity
from reports.rollups import ANY_MONEY, unpack_players
from wallet.currencies import CURRENCIES
from wallet.money import format_money

PERIODS = ("day", "week", "month")
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
# (field, column title). Amounts are in the row's currency.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("bets_count", "Bets"),
    ("stakes", "Stakes"),
    ("payouts", "Payouts"),
    ("refunds", "Refunds"),
    ("rollbacks", "Rollbacks"),
    ("resettle_adjustments", "Resettle adj."),
    ("unsettle_adjustments", "Unsettle adj."),
    ("staff_reversals", "Staff reversals"),
    ("staff_adjustments", "Staff adjustments"),
    ("ggr", "GGR"),
    ("hold", "Hold %"),
    ("unique_players", "Players*"),
    ("open_liability", "Open liability**"),
    ("new_debt", "New debt"),
)
COUNT_COLUMNS = ("bets_count", "unique_players")
SUMMED = tuple(name for name, _ in COLUMNS if name not in ("hold", "open_liability"))
NOT_AVAILABLE = "not available"
NO_BRAND = "(none)"  # the brand filter's word for bets whose provider named no brand
NOTES = (
    "* Players: distinct players who placed a bet in the line's period (a player betting on several days,"
    " brands or in real and bonus money counts once); a total counts each player once over the whole range.",
    "** Open liability: stakes of bets still open at the end of the period's last day (a balance, not a flow)."
    f" IGPX: {NOT_AVAILABLE}, since its results name no bet, so we cannot tell which of its bets are still open;"
    f" a total that includes IGPX is {NOT_AVAILABLE} too (filter by provider for the others').",
    f"Brand: the provider's sub-brand (Betsy's subPartnerId); {NO_BRAND} when the provider named none."
    " Days computed before brands were recorded show every bet as (none).",
    "Amounts are to the player's side (a payout taken back is negative), except stakes, GGR, liability and debt.",
)


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class ReportFilter:
    first: date
    last: date
    period: str = "day"
    provider: str = ""
    brand: str = ""  # NO_BRAND: bets with no brand
    origin: str = ""
    currency: str = ""
    money: str = ""

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise FilterError(f"period must be one of {', '.join(PERIODS)}")
        if self.last < self.first:
            raise FilterError("the date range ends before it starts")
        if (self.last - self.first).days > 3660:
            raise FilterError("the date range may span at most ten years")

    def as_query(self) -> dict[str, str]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "period": self.period,
            "provider": self.provider,
            "brand": self.brand,
            "origin": self.origin,
            "currency": self.currency,
            "money": self.money,
        }


def parse_filter(params, *, today: date) -> ReportFilter:
    """From query parameters (admin page or API); defaults to the last 30 days by day."""

    def day(name: str, default: date) -> date:
        raw = (params.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            raise FilterError(f"{name}: {raw!r} is not a date (YYYY-MM-DD)") from None
        if not EARLIEST <= value <= LATEST:
            raise FilterError(f"{name}: {raw} is outside {EARLIEST.year}–{LATEST.year}")
        return value

    last = day("to", today)
    return ReportFilter(
        first=day("from", last - timedelta(days=29)),
        last=last,
        period=(params.get("period") or "day").strip(),
        provider=(params.get("provider") or "").strip(),
        brand=(params.get("brand") or "").strip(),
        origin=(params.get("origin") or "").strip(),
        currency=(params.get("currency") or "").strip().upper(),
        money=(params.get("money") or "").strip(),
    )


def period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def period_label(start: date, period: str) -> str:
    if period == "week":
        return f"week of {start.isoformat()}"
    if period == "month":
        return start.strftime("%Y-%m")
    return start.isoformat()


@dataclass
class Line:
    label: str
    period: date | None
    provider: str
    brand: str
    currency: str
    values: dict[str, Decimal | int] = field(default_factory=dict)
    converted: bool = False
    liability_day: date | None = None
    liability_unknown: bool = False  # a row in it has no open liability figure (IGPX)

    @property
    def brand_text(self) -> str:
        return self.brand or NO_BRAND

    @property
    def hold(self) -> Decimal | None:
        stakes = self.values.get("stakes", 0)
        if not stakes:
            return None
        return (Decimal(self.values["ggr"]) * 100 / Decimal(stakes)).quantize(Decimal("0.01"))

    def cell_value(self, name: str) -> Decimal | int | None:
        """None: no figure (hold on no stakes; open liability not available)."""
        if name == "hold":
            return self.hold
        if name == "open_liability" and self.liability_unknown:
            return None
        return self.values.get(name, 0)

    def text(self, name: str) -> str:
        value = self.cell_value(name)
        if value is None:
            return NOT_AVAILABLE if name == "open_liability" else "—"
        if name == "hold":
            return f"{value}%"
        if name in COUNT_COLUMNS:
            return f"{value:,}"
        return format_money(value, self.currency)


@dataclass
class Report:
    filter: ReportFilter
    lines: list[Line]
    totals: list[Line]
    converted: Line | None
    conversion_note: str
    chart_currency: str
    chart: list[tuple[str, Decimal, Decimal]]  # (period label, turnover, GGR)

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return COLUMNS

    def header(self) -> list[str]:
        return ["Period", "Provider", "Brand", "Currency", *(title for _, title in COLUMNS)]

    def all_lines(self) -> list[Line]:
        """Lines, per-currency totals, the converted total: every row the page shows."""
        return [*self.lines, *self.totals, *([self.converted] if self.converted else [])]

    def text_rows(self) -> list[list[str]]:
        # Most cells of a long report are the same few amounts (0.00 EUR…): format each once.
        memo: dict[tuple[str, object, str], str] = {}

        def text(line: Line, name: str) -> str:
            kind = name if name in ("hold", "open_liability") or name in COUNT_COLUMNS else "amount"
            key = (kind, line.cell_value(name), line.currency)
            if key not in memo:
                memo[key] = line.text(name)
            return memo[key]

        return [
            [line.label, line.provider, line.brand_text, line.currency, *(text(line, n) for n, _ in COLUMNS)]
            for line in self.all_lines()
        ]


# Summed from the rollups; distinct players come from PlayerActivity (_count_players).
_FLOWS = tuple(name for name in SUMMED if name != "unique_players")


def _add(target: Line, day: date, liability: Decimal | None, flows: tuple) -> None:
    values = target.values
    for name, value in zip(_FLOWS, flows, strict=True):
        values[name] = values.get(name, 0) + value
    if liability is None:
        target.liability_unknown = True
    # A balance: the last day's value in the group (rows come ordered by day).
    if target.liability_day != day:
        values["open_liability"] = Decimal(0)
        target.liability_day = day
    values["open_liability"] += liability or 0


def _filtered(rows, flt: ReportFilter, *, any_money: str | None = None):
    """`rows` narrowed by the filter; `any_money`: the money value that stands for "both"
    where the model has one (PlayerActivity)."""
    if flt.provider:
        rows = rows.filter(provider=flt.provider)
    if flt.brand:
        rows = rows.filter(brand="" if flt.brand == NO_BRAND else flt.brand)
    if flt.currency:
        rows = rows.filter(currency=flt.currency)
    if flt.money or any_money is not None:
        rows = rows.filter(money=flt.money or any_money)
    return rows


def _count_players(
    flt: ReportFilter, groups: dict[tuple[date, str, str, str], Line], totals: dict[str, Line]
) -> dict[str, set[int]]:
    """Distinct players per line and per currency total, from PlayerActivity; returns each
    currency's players (the converted total counts them across currencies)."""
    by_line: dict[tuple[date, str, str, str], list[bytes]] = defaultdict(list)
    if flt.origin in ("", DailyRollup.Origin.PROVIDER):  # staff rows place no bets
        # One money, or the "either" rows: a line is then one row per day (no union for a day).
        rows = _filtered(PlayerActivity.objects.filter(day__gte=flt.first, day__lte=flt.last), flt, any_money=ANY_MONEY)
        for day, provider, brand, currency, players in rows.values_list(
            "day", "provider", "brand", "currency", "players"
        ).order_by():
            by_line[(period_start(day, flt.period), provider, brand, currency)].append(players)
    per_currency: dict[str, set[int]] = defaultdict(set)
    for key, parts in by_line.items():
        arrays = [unpack_players(p) for p in parts]
        players = set().union(*arrays) if len(arrays) > 1 else None
        if key in groups:
            groups[key].values["unique_players"] = len(players) if players is not None else len(arrays[0])
        per_currency[key[3]].update(players if players is not None else arrays[0])
    for currency, total in totals.items():
        total.values["unique_players"] = len(per_currency.get(currency, ()))
    return per_currency


def build_report(flt: ReportFilter) -> Report:
    rows = _filtered(DailyRollup.objects.filter(day__gte=flt.first, day__lte=flt.last).order_by("day"), flt)
    if flt.origin:
        rows = rows.filter(origin=flt.origin)

    groups: dict[tuple[date, str, str, str], Line] = {}
    totals: dict[str, Line] = {}
    # Tuples, not model instances: a 90-day page reads a few thousand rows.
    for day, provider, brand, currency, liability, *flows in rows.values_list(
        "day", "provider", "brand", "currency", "open_liability", *_FLOWS
    ):
        start = period_start(day, flt.period)
        key = (start, provider, brand, currency)
        line = groups.get(key)
        if line is None:
            line = groups[key] = Line(
                period_label(start, flt.period), start, provider, brand, currency, {"unique_players": 0}
            )
        _add(line, day, liability, flows)
        total = totals.get(currency)
        if total is None:
            total = totals[currency] = Line("Total", None, "all", "all", currency, {"unique_players": 0})
        _add(total, day, liability, flows)
    players = _count_players(flt, groups, totals)
    lines = [groups[k] for k in sorted(groups)]
    ordered_totals = [totals[c] for c in sorted(totals)]
    converted, note = _convert(ordered_totals, players)
    chart_currency = flt.currency or _main_currency(ordered_totals)
    # Every period of the range, so the chart's x axis is time even where nothing happened.
    series: dict[date, list[Decimal]] = {
        start: [Decimal(0), Decimal(0)]
        for start in sorted(
            {period_start(flt.first + timedelta(days=i), flt.period) for i in range((flt.last - flt.first).days + 1)}
        )
    }
    for line in lines:
        if line.currency == chart_currency and line.period is not None:
            series[line.period][0] += Decimal(line.values.get("stakes", 0))
            series[line.period][1] += Decimal(line.values.get("ggr", 0))
    chart = [(period_label(p, flt.period), v[0], v[1]) for p, v in sorted(series.items())]
    return Report(flt, lines, ordered_totals, converted, note, chart_currency, chart)


def _main_currency(totals: list[Line]) -> str:
    if not totals:
        return conf.reporting_currency() or "EUR"
    return max(totals, key=lambda t: (Decimal(t.values.get("stakes", 0)), t.currency)).currency


def _convert(totals: list[Line], players: dict[str, set[int]]) -> tuple[Line | None, str]:
    """A total in the reporting currency, over the currencies that have a configured rate only;
    a player with wallets in two of them counts once."""
    target = conf.reporting_currency()
    if not target or not totals:
        return None, ""
    rates = conf.exchange_rates()
    quantum = Decimal(1).scaleb(-CURRENCIES.get(target, 2))
    used = [t for t in totals if t.currency in rates]
    left_out = [t.currency for t in totals if t.currency not in rates]
    if not used:
        return None, f"No exchange rate configured for {', '.join(left_out)}: nothing converted to {target}."
    line = Line(f"Total converted to {target}", None, "all", "all", target, converted=True)
    line.values["unique_players"] = len(set().union(*(players.get(t.currency, set()) for t in used)))
    for total in used:
        rate = rates[total.currency]
        line.liability_unknown |= total.liability_unknown
        for name, value in total.values.items():
            if name == "unique_players":
                continue
            if name in COUNT_COLUMNS:
                line.values[name] = line.values.get(name, 0) + value
            else:
                amount = (Decimal(value) * rate).quantize(quantum, rounding=ROUND_HALF_EVEN)
                line.values[name] = line.values.get(name, 0) + amount
    parts = ", ".join(f"{t.currency}×{rates[t.currency]}" for t in used)
    note = f"Converted to {target} at configured rates ({parts})."
    if left_out:
        note += f" Not converted (no rate): {', '.join(left_out)}."
    return line, note
