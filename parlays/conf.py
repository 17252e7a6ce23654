"""ProphetX parlay settings (the connection variables PROPHETX_API_URL, PROPHETX_ACCESS_KEY,
PROPHETX_SECRET_KEY and PROPHETX_WS_URL live in config/settings.py).

Everything here has a default so the demo runs with nothing set. `get()` reads the environment
once; tests build their own `ParlaySettings` (it is a frozen dataclass) or call `override()`.
Same-game correlation factors and line mappings are data, edited in the admin, not settings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_int, env_list, env_str


@dataclass(frozen=True, slots=True)
class LadderRung:
    """One offer of the size ladder: our liability cap and the extra margin per leg it costs."""

    max_risk: Decimal
    extra_margin: Decimal


@dataclass(frozen=True, slots=True)
class ParlaySettings:
    currency: str = "USD"
    # Pricing
    devig_method: str = "power"  # power | shin | proportional
    margin_per_leg: Decimal = Decimal("0.015")
    ladder: tuple[LadderRung, ...] = (
        LadderRung(Decimal("200"), Decimal("0")),
        LadderRung(Decimal("1000"), Decimal("0.005")),
        LadderRung(Decimal("5000"), Decimal("0.015")),
    )
    min_legs: int = 2
    max_legs: int = 12
    max_parlay_odds: int = 25000  # American, bettor side
    max_leg_probability: Decimal = Decimal("0.97")
    min_leg_probability: Decimal = Decimal("0.01")
    odds_max_age_s: int = 600
    live_odds_max_age_s: int = 15
    live_producers: tuple[int, ...] = (1,)
    valid_for_s: int = 30
    probability_dp: int = 6
    min_bettor_stake: Decimal = Decimal("1")
    # Confirmation and book
    confirm_tolerance: Decimal = Decimal("0.02")
    confirm_grace_s: int = 5
    reduce_stake: bool = True
    max_exposure_total: Decimal = Decimal("50000")
    max_exposure_event: Decimal = Decimal("5000")
    max_exposure_outcome: Decimal = Decimal("2500")
    unbooked_release_s: int = 60
    # Transport
    http_timeout_s: float = 5.0
    token_refresh_s: int = 480
    login_cooldown_s: int = 600
    health_timeout_s: float = 30.0
    pong_timeout_s: float = 30.0
    confirm_silence_s: int = 0  # 0: only report; >0: reconnect after this long without a confirm
    reconnect_max_backoff_s: float = 30.0
    config_reread_s: int = 1800
    quote_workers: int = 4
    gil_switch_ms: float = 1.0  # the listener process's sys.setswitchinterval: short tasks wait less
    max_pending_asks: int = 200
    vocabulary: str = "legacy"  # legacy | cftc
    tournaments: tuple[str, ...] = ()
    seed_interval_s: int = 300
    reconcile_interval_s: int = 300
    price_source: str = "parlays.prices.FeedsPriceSource"

    def with_changes(self, **changes) -> ParlaySettings:
        return dataclasses.replace(self, **changes)


def _decimal(name: str, default: Decimal, *, minimum: Decimal | None = None) -> Decimal:
    raw = env_str(name, "")
    if raw == "":
        return default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is invalid: expected a decimal.") from None
    if not value.is_finite() or (minimum is not None and value < minimum):
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is invalid: expected a decimal >= {minimum}.")
    return value


def parse_ladder(text: str) -> tuple[LadderRung, ...]:
    """'200:0,1000:0.005' -> rungs sorted by size. Larger sizes must not cost less margin."""
    rungs = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        size, _, extra = item.partition(":")
        try:
            rungs.append(LadderRung(Decimal(size), Decimal(extra or "0")))
        except InvalidOperation:
            raise ImproperlyConfigured(f"PROPHETX_LADDER item {item!r} is not 'max_risk:extra_margin'") from None
    rungs.sort(key=lambda r: r.max_risk)
    if not rungs or any(r.max_risk <= 0 or r.extra_margin < 0 for r in rungs):
        raise ImproperlyConfigured("PROPHETX_LADDER needs at least one positive max_risk and margins >= 0")
    for smaller, larger in zip(rungs, rungs[1:], strict=False):
        if larger.extra_margin < smaller.extra_margin:
            raise ImproperlyConfigured("PROPHETX_LADDER: a larger size must not carry a smaller margin")
    return tuple(rungs)


def load() -> ParlaySettings:
    d = ParlaySettings()
    ladder = env_str("PROPHETX_LADDER", "")
    return ParlaySettings(
        currency=env_str("PROPHETX_CURRENCY", d.currency),
        devig_method=env_choice("PROPHETX_DEVIG_METHOD", d.devig_method, ("power", "shin", "proportional")),
        margin_per_leg=_decimal("PROPHETX_MARGIN_PER_LEG", d.margin_per_leg, minimum=Decimal(0)),
        ladder=parse_ladder(ladder) if ladder else d.ladder,
        min_legs=env_int("PROPHETX_MIN_LEGS", d.min_legs, minimum=1),
        max_legs=env_int("PROPHETX_MAX_LEGS", d.max_legs, minimum=1),
        max_parlay_odds=env_int("PROPHETX_MAX_PARLAY_ODDS", d.max_parlay_odds, minimum=100),
        max_leg_probability=_decimal("PROPHETX_MAX_LEG_PROBABILITY", d.max_leg_probability, minimum=Decimal(0)),
        min_leg_probability=_decimal("PROPHETX_MIN_LEG_PROBABILITY", d.min_leg_probability, minimum=Decimal(0)),
        odds_max_age_s=env_int("PROPHETX_ODDS_MAX_AGE_S", d.odds_max_age_s, minimum=1),
        live_odds_max_age_s=env_int("PROPHETX_LIVE_ODDS_MAX_AGE_S", d.live_odds_max_age_s, minimum=1),
        live_producers=tuple(int(p) for p in env_list("PROPHETX_LIVE_PRODUCERS", ["1"])),
        valid_for_s=env_int("PROPHETX_VALID_FOR_S", d.valid_for_s, minimum=6),
        probability_dp=env_int("PROPHETX_PROBABILITY_DP", d.probability_dp, minimum=4, maximum=12),
        min_bettor_stake=_decimal("PROPHETX_MIN_BETTOR_STAKE", d.min_bettor_stake, minimum=Decimal(0)),
        confirm_tolerance=_decimal("PROPHETX_CONFIRM_TOLERANCE", d.confirm_tolerance, minimum=Decimal(0)),
        confirm_grace_s=env_int("PROPHETX_CONFIRM_GRACE_S", d.confirm_grace_s, minimum=0),
        reduce_stake=env_bool("PROPHETX_REDUCE_STAKE", d.reduce_stake),
        max_exposure_total=_decimal("PROPHETX_MAX_EXPOSURE_TOTAL", d.max_exposure_total, minimum=Decimal(0)),
        max_exposure_event=_decimal("PROPHETX_MAX_EXPOSURE_EVENT", d.max_exposure_event, minimum=Decimal(0)),
        max_exposure_outcome=_decimal("PROPHETX_MAX_EXPOSURE_OUTCOME", d.max_exposure_outcome, minimum=Decimal(0)),
        unbooked_release_s=env_int("PROPHETX_UNBOOKED_RELEASE_S", d.unbooked_release_s, minimum=1),
        http_timeout_s=float(env_int("PROPHETX_HTTP_TIMEOUT_MS", int(d.http_timeout_s * 1000), minimum=100)) / 1000,
        token_refresh_s=env_int("PROPHETX_TOKEN_REFRESH_S", d.token_refresh_s, minimum=30),
        login_cooldown_s=env_int("PROPHETX_LOGIN_COOLDOWN_S", d.login_cooldown_s, minimum=1),
        health_timeout_s=float(env_int("PROPHETX_HEALTH_TIMEOUT_S", int(d.health_timeout_s), minimum=1)),
        pong_timeout_s=float(env_int("PROPHETX_PONG_TIMEOUT_S", int(d.pong_timeout_s), minimum=1)),
        confirm_silence_s=env_int("PROPHETX_CONFIRM_SILENCE_S", d.confirm_silence_s, minimum=0),
        reconnect_max_backoff_s=float(env_int("PROPHETX_RECONNECT_MAX_BACKOFF_S", 10, minimum=1)),
        config_reread_s=env_int("PROPHETX_CONFIG_REREAD_S", d.config_reread_s, minimum=60),
        quote_workers=env_int("PROPHETX_QUOTE_WORKERS", d.quote_workers, minimum=1, maximum=64),
        gil_switch_ms=float(env_int("PROPHETX_GIL_SWITCH_US", int(d.gil_switch_ms * 1000), minimum=100)) / 1000,
        max_pending_asks=env_int("PROPHETX_MAX_PENDING_ASKS", d.max_pending_asks, minimum=1),
        vocabulary=env_choice("PROPHETX_VOCABULARY", d.vocabulary, ("legacy", "cftc")),
        tournaments=tuple(env_list("PROPHETX_TOURNAMENTS", [])),
        seed_interval_s=env_int("PROPHETX_SEED_INTERVAL_S", d.seed_interval_s, minimum=30),
        reconcile_interval_s=env_int("PROPHETX_RECONCILE_INTERVAL_S", d.reconcile_interval_s, minimum=30),
        price_source=env_str("PROPHETX_PRICE_SOURCE", d.price_source),
    )


_current: ParlaySettings | None = None


def get() -> ParlaySettings:
    global _current
    if _current is None:
        _current = load()
    return _current


@contextlib.contextmanager
def override(**changes) -> Iterator[ParlaySettings]:
    """Tests: run with some settings changed."""
    global _current
    previous = get()
    _current = previous.with_changes(**changes)
    try:
        yield _current
    finally:
        _current = previous


def reset() -> None:
    global _current
    _current = None


def connection() -> tuple[str, str, str, str]:
    """(api_url, access_key, secret_key, ws_url) from Django settings."""
    from django.conf import settings

    return (
        settings.PROPHETX_API_URL,
        settings.PROPHETX_ACCESS_KEY,
        settings.PROPHETX_SECRET_KEY,
        getattr(settings, "PROPHETX_WS_URL", "") or os.environ.get("PROPHETX_WS_URL", ""),
    )
