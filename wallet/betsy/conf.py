"""Betsy settings beyond BETSY_PARTNER_SECRET / BETSY_IFRAME_URL (those live in config/settings.py).

Read once at import with the config.env helpers; every variable has a default so the demo runs
with nothing set. Tests change the module attributes (monkeypatch), never the environment.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from config.env import env_bool, env_choice, env_int, env_list
from wallet import allowlist

# Resettle policies (protocols/betsy.md §7). "debt": accept every recalculation and record any
# shortfall as player debt for staff (Touchline's default: the two systems stay in sync).
# "refuse_negative": answer code 21 when the recalculation would leave the balance negative.
# "block": answer code 20 to any recalculation of a settled bet.
DEBT = "debt"
REFUSE_NEGATIVE = "refuse_negative"
BLOCK = "block"
POLICIES = (DEBT, REFUSE_NEGATIVE, BLOCK)

# How long a session token stays valid. Betsy polls the balance for as long as the iframe is
# open; an expired token makes the iframe ask the player to log in again (code 4).
TOKEN_TTL_SECONDS = env_int("BETSY_TOKEN_TTL_SECONDS", 24 * 3600, minimum=60)

# Sign our responses with the same detached JWS (header x-sign-jws). The docs are silent; one
# integrator does it, and a provider that does not check it loses nothing.
SIGN_RESPONSES = env_bool("BETSY_SIGN_RESPONSES", True)

# Internal budget per request (Betsy gives up after 5 s); slower requests are logged.
SLOW_REQUEST_MS = env_int("BETSY_SLOW_REQUEST_MS", 2000, minimum=1)

# Reported to the iframe in the profile's customFields.isCashOutAllowed.
CASHOUT_ALLOWED = env_bool("BETSY_CASHOUT_ALLOWED", True)

# Addresses the callbacks are accepted from (IPs or networks); empty: any (wallet/allowlist.py).
ALLOWED_IPS = allowlist.from_env("BETSY_ALLOWED_IPS")

RESETTLE_POLICY = env_choice("BETSY_RESETTLE_POLICY", DEBT, POLICIES)


def _brand_policies(items: list[str]) -> dict[str, str]:
    """BETSY_RESETTLE_POLICY_BY_BRAND="brandA=refuse_negative,brandB=block" (brand = subPartnerId)."""
    result: dict[str, str] = {}
    for item in items:
        brand, sep, policy = item.partition("=")
        brand, policy = brand.strip(), policy.strip().lower()
        if not sep or not brand or policy not in POLICIES:
            raise ImproperlyConfigured(
                f"Environment variable BETSY_RESETTLE_POLICY_BY_BRAND item {item!r} is invalid:"
                f" expected brand=policy with policy one of {'|'.join(POLICIES)}."
            )
        result[brand] = policy
    return result


RESETTLE_POLICY_BY_BRAND = _brand_policies(env_list("BETSY_RESETTLE_POLICY_BY_BRAND", []))


def resettle_policy(brand: str | None) -> str:
    """The recalculation policy for a sub-brand (Betsy's subPartnerId), else the default."""
    if brand and brand in RESETTLE_POLICY_BY_BRAND:
        return RESETTLE_POLICY_BY_BRAND[brand]
    return RESETTLE_POLICY


class _DjangoSettings:
    """The Django settings Betsy's route reads on every callback (the partner secret, the body
    limit, the proxy's HTTPS header), as plain attributes of this object once read: a read of
    `django.conf.settings` goes through LazyObject.__getattribute__ each time (~1-1.5k
    instructions, issue #18). Forgotten whenever a setting changes (override_settings,
    pytest-django's `settings` fixture: Django's setting_changed signal), so a test's change is
    seen by the next callback."""

    def __getattr__(self, name: str) -> Any:  # only on a miss: a kept value is found before
        value = getattr(settings, name)
        self.__dict__[name] = value
        return value


DJANGO = _DjangoSettings()


def _forget(**kwargs: object) -> None:
    DJANGO.__dict__.clear()


setting_changed.connect(_forget, dispatch_uid="wallet.betsy.conf.DJANGO")
