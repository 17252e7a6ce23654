"""Wallet and back-office settings (environment variables, listed in README's table)."""

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_int, env_str


def _amount(name: str, default: str) -> Decimal:
    raw = env_str(name, default)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(
            f"Environment variable {name}={raw!r} is invalid: expected a decimal amount."
        ) from None
    if not value.is_finite() or value < 0:
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is invalid: expected a positive amount.")
    return value


# A payout at or above this (in the bet's currency) goes to the review queue.
REVIEW_LARGE_WIN_AMOUNT = _amount("REVIEW_LARGE_WIN_AMOUNT", "1000")
# Staff requests moving more than this need a second, different approver (four eyes).
FOUR_EYES_AMOUNT = _amount("FOUR_EYES_AMOUNT", "100")

# Review-queue noise rules (amounts in the bet's currency): a step that moves less than its
# kind's threshold is kept in the bet's history, not queued for a human.
# A re-settlement that changes the payout by less than this.
REVIEW_RESETTLE_MIN_AMOUNT = _amount("REVIEW_RESETTLE_MIN_AMOUNT", "50")
# An unsettle that takes back less than this (an unsettled loss takes back nothing).
REVIEW_UNSETTLE_MIN_AMOUNT = _amount("REVIEW_UNSETTLE_MIN_AMOUNT", "50")
# A rollback of a bet that had paid less than this.
REVIEW_ROLLBACK_MIN_AMOUNT = _amount("REVIEW_ROLLBACK_MIN_AMOUNT", "50")

# --- Player protection (docs/PROTECTION.md) ---------------------------------------------------

# The operator's business day: daily, weekly (from Monday) and monthly limits are calendar
# periods in this time zone. The same setting defines report days.
REPORT_TIMEZONE = getattr(settings, "REPORT_TIMEZONE", "UTC") or "UTC"  # config/settings.py (README)
# A higher or removed limit, or an earlier end of a time-out or self-exclusion, waits this long.
LIMIT_INCREASE_DELAY_HOURS = env_int("LIMIT_INCREASE_DELAY_HOURS", 24, minimum=0)


@dataclass(frozen=True)
class Jurisdiction:
    """A licence's (or brand's) rules for betting."""

    code: str
    name: str
    minimum_age: int = 18
    verification_required: bool = False  # bets need a verified identity
    early_lift: str = "four_eyes"  # lifting a self-exclusion before its end: "never" or "four_eyes"


# Examples of licence rules; an operator replaces or extends them with PROTECTION_JURISDICTIONS.
_BUILT_IN = {
    "default": Jurisdiction("default", "Default rules"),
    "uk": Jurisdiction("uk", "United Kingdom (UKGC)", verification_required=True, early_lift="never"),
    "mt": Jurisdiction("mt", "Malta (MGA)", verification_required=True),
    "se": Jurisdiction("se", "Sweden (Spelinspektionen)", verification_required=True, early_lift="never"),
    "ee": Jurisdiction("ee", "Estonia", minimum_age=21, verification_required=True),
}


def _jurisdictions() -> dict[str, Jurisdiction]:
    raw = env_str("PROTECTION_JURISDICTIONS", "")
    table = dict(_BUILT_IN)
    if not raw:
        return table
    try:
        entries = json.loads(raw)
        for code, rules in entries.items():
            table[code] = Jurisdiction(code=code, **rules)
            if table[code].early_lift not in ("never", "four_eyes"):
                raise ValueError("early_lift must be 'never' or 'four_eyes'")
    except (ValueError, TypeError, AttributeError) as error:
        raise ImproperlyConfigured(
            f"Environment variable PROTECTION_JURISDICTIONS is invalid ({error}): expected JSON such as"
            ' {"uk": {"name": "UK", "minimum_age": 18, "verification_required": true, "early_lift": "never"}}.'
        ) from None
    return table


JURISDICTIONS = _jurisdictions()
DEFAULT_JURISDICTION = env_str("PROTECTION_DEFAULT_JURISDICTION", "default")
if DEFAULT_JURISDICTION not in JURISDICTIONS:
    raise ImproperlyConfigured(
        f"Environment variable PROTECTION_DEFAULT_JURISDICTION={DEFAULT_JURISDICTION!r} is invalid:"
        f" expected one of {', '.join(JURISDICTIONS)}."
    )


def jurisdiction(code: str) -> Jurisdiction:
    """The rules for a player's jurisdiction code (blank or unknown: the default's)."""
    return JURISDICTIONS.get(code) or JURISDICTIONS[DEFAULT_JURISDICTION]
