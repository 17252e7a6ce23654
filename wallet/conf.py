"""Wallet and back-office settings (environment variables, listed in README's table)."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured

from config.env import env_str


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
