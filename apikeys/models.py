"""Operator API keys: the casino platform's (and each tool's) own principal, not a staff user.

The secret is shown once, at creation; only its SHA-512 is stored, looked up by an 8-character
prefix (djangorestframework-api-key's AbstractAPIKey: `<prefix>.<secret>`, compared in constant
time).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

from wallet import money
from wallet.currencies import CURRENCIES
from wallet.errors import InvalidRequest
from wallet.models import MoneyField

# What an operator API view may require (`required_scope` on the view).
SCOPES: dict[str, str] = {
    "read": "read players, balances, transactions and bets",
    "players": "create players, block, unblock, change status",
    "payments": "deposits and withdrawals (up to the key's per-currency limit)",
    "sessions": "launch sportsbook sessions",
    "limits": "read and set player protection limits",
    "reports": "read reports",
    "feeds": "read the odds feed (events, markets, producers)",
}
# last_used_at is written at most this often per key: a busy key must not cost a write per call.
LAST_USED_GRANULARITY = timedelta(minutes=1)
_RATE_UNITS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def validate_rate(value: str) -> None:
    count, _, unit = value.partition("/")
    if not (count.isdigit() and int(count) > 0 and unit in _RATE_UNITS):
        raise ValidationError(f"{value!r} is not a rate like 600/min (units: s, min, hour, day)")


def validate_scopes(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(s, str) and s in SCOPES for s in value):
        raise ValidationError(f"scopes must be a list drawn from {', '.join(SCOPES)}")


class ApiKey(AbstractAPIKey):
    objects = APIKeyManager()

    name = models.CharField(max_length=64, unique=True, help_text="Who uses this key, e.g. 'casino platform'.")
    scopes = models.JSONField(default=list, blank=True, validators=[validate_scopes])
    rate_limit = models.CharField(
        max_length=32,
        default="1200/min",
        validators=[validate_rate],
        help_text="Requests allowed per key, e.g. 1200/min; more answer 429.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def audit_label(self) -> dict[str, str]:
        """How audit rows name the key: its public prefix and its name."""
        return {"prefix": self.prefix, "name": self.name}

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    def transfer_limit(self, currency: str):
        """The largest single transfer this key may make in `currency`, or None (no transfers)."""
        row = self.transfer_limits.filter(currency=currency).first()
        return None if row is None else row.max_amount

    def touch(self) -> None:
        """Record a use, at most once per LAST_USED_GRANULARITY (one UPDATE, no read)."""
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < LAST_USED_GRANULARITY:
            return
        type(self).objects.filter(pk=self.pk).update(last_used_at=now)
        self.last_used_at = now


class TransferLimit(models.Model):
    """A key's largest single deposit or withdrawal in one currency. No row: no transfers in it."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="transfer_limits")
    currency = models.CharField(max_length=8, choices=[(c, c) for c in sorted(CURRENCIES)])
    max_amount = MoneyField(help_text="Largest single transfer, in this currency.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "currency"], name="apikeys_one_limit_per_currency")]

    def __str__(self) -> str:
        return f"{self.key.name}: {self.currency} {self.max_amount}"

    def clean(self) -> None:
        if self.max_amount is None or not self.currency:
            return
        try:
            money.parse_amount(self.max_amount, self.currency, field="limit")
        except InvalidRequest as exc:
            raise ValidationError({"max_amount": exc.message}) from None
