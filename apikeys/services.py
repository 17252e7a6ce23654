"""Creating and revoking operator API keys. Admin staff only (`apikeys.add_apikey`,
`apikeys.change_apikey`: only the Admin role has them), audited."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apikeys.models import SCOPES, ApiKey, TransferLimit
from wallet import money
from wallet.currencies import CURRENCIES
from wallet.errors import InvalidRequest
from wallet.permissions import require
from wallet.services.audit import audit_record


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    result = sorted(set(scopes))
    unknown = [s for s in result if s not in SCOPES]
    if unknown:
        raise InvalidRequest(f"unknown scope(s) {', '.join(unknown)}: use {', '.join(SCOPES)}")
    return result


def _create(
    *,
    name: str,
    scopes: Iterable[str],
    rate_limit: str,
    limits: Mapping[str, Decimal],
    actor,
    expiry_date: datetime | None = None,
    instance: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    key = instance or ApiKey()
    key.name, key.scopes, key.rate_limit, key.expiry_date = name, _check_scopes(scopes), rate_limit, expiry_date
    key.created_by = actor
    secret = ApiKey.objects.assign_key(key)
    key.full_clean(exclude=["id", "prefix", "hashed_key"])
    key.save()
    TransferLimit.objects.bulk_create(
        [
            TransferLimit(key=key, currency=currency, max_amount=money.parse_amount(amount, currency, field="limit"))
            for currency, amount in sorted(limits.items())
        ]
    )
    audit_record(
        actor_id=getattr(actor, "pk", None),
        action="apikey.create",
        object_type="apikeys.ApiKey",
        object_id=key.prefix,
        data={"name": name, "scopes": key.scopes, "rate_limit": rate_limit, "limits": dict(limits)},
    )
    return key, secret


@transaction.atomic
def apikey_create(
    *,
    actor,
    name: str,
    scopes: Iterable[str],
    rate_limit: str = "1200/min",
    limits: Mapping[str, Decimal] | None = None,
    expiry_date: datetime | None = None,
    instance: ApiKey | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret. The secret is returned once and never stored. `instance`: an
    unsaved key to fill and save (the admin's form object)."""
    require(actor, "apikeys.add_apikey")
    return _create(
        name=name,
        scopes=scopes,
        rate_limit=rate_limit,
        limits=limits or {},
        actor=actor,
        expiry_date=expiry_date,
        instance=instance,
    )


@transaction.atomic
def apikey_record_change(*, actor, key: ApiKey, changed: Iterable[str]) -> None:
    """Audit an edit made in the admin (scopes, rate, expiry, transfer limits): what the key may
    do after it."""
    require(actor, "apikeys.change_apikey")
    audit_record(
        actor_id=actor.pk,
        action="apikey.change",
        object_type="apikeys.ApiKey",
        object_id=key.prefix,
        data={
            "changed": sorted(changed),
            "scopes": key.scopes,
            "rate_limit": key.rate_limit,
            "expiry_date": key.expiry_date,
            "limits": {row.currency: row.max_amount for row in key.transfer_limits.all()},
        },
    )


@transaction.atomic
def apikey_revoke(*, actor, key: ApiKey, reason: str = "") -> ApiKey:
    """Revoke for good (the library refuses to un-revoke). Its next request answers 401."""
    require(actor, "apikeys.change_apikey")
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if not locked.revoked:
        locked.revoked = True
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.save(update_fields=["revoked", "revoked_at", "revoked_by"])
        audit_record(
            actor_id=actor.pk,
            action="apikey.revoke",
            object_type="apikeys.ApiKey",
            object_id=locked.prefix,
            reason=reason,
            data={"name": locked.name},
        )
    return locked


@transaction.atomic
def apikey_replace_for_tool(
    *, name: str, scopes: Iterable[str], limits: Mapping[str, Decimal] | None = None, rate_limit: str = "100000/min"
) -> str:
    """A fresh secret for a built-in tool (the demo, a simulator) that runs on this database.

    Tools cannot read a secret back, so each run replaces its key of that name. Never use it
    for a real client: they get theirs from an Admin in the admin."""
    ApiKey.objects.filter(name=name).delete()
    return _create(name=name, scopes=scopes, rate_limit=rate_limit, limits=limits or {}, actor=None)[1]


# What the built-in tools may move in one transfer, per currency (the demo's players hold far less).
TOOL_TRANSFER_LIMIT = Decimal("1000000")


def tool_key(name: str) -> str:
    """Every scope, a generous limit in every currency: for the demo and the simulators."""
    return apikey_replace_for_tool(
        name=name, scopes=list(SCOPES), limits={currency: TOOL_TRANSFER_LIMIT for currency in CURRENCIES}
    )
