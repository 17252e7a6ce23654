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
