"""Environment parsing with errors that name the variable to fix.

django-environ does the URL parsing; these wrappers add validation, because
``environ.Env.bool("DEBUG")`` quietly turns ``DEBUG=ture`` into False and a
mistyped DATABASE_URL only fails on the first query. Every variable read here is
listed in the README's configuration table.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

_env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return value.strip()


def _bad(name: str, value: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"Environment variable {name}={value!r} is invalid: expected {expected}.")


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value


def env_time_zone(name: str, default: str) -> str:
    """An IANA time zone name (Europe/Malta), checked against the zone database."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = env_str(name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(name, value, "an IANA time zone such as UTC or Europe/Malta") from None
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _bad(name, value, "one of true/false/1/0/yes/no/on/off")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise _bad(name, value, "a whole number") from None
    if minimum is not None and number < minimum:
        raise _bad(name, value, f"a whole number >= {minimum}")
    if maximum is not None and number > maximum:
        raise _bad(name, value, f"a whole number <= {maximum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None or value == "":
        return default
    if value.lower() not in choices:
        raise _bad(name, value, "one of " + "|".join(choices))
    return value.lower()


def env_url(name: str, default: str = "", *, schemes: tuple[str, ...]) -> str:
    """A URL with one of the given schemes, or '' when unset and no default."""
    value = _raw(name)
    if value is None or value == "":
        return default
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
        raise _bad(name, value, "a URL starting with " + " or ".join(f"{s}://" for s in schemes))
    return value


def env_database(name: str, default: str) -> dict[str, Any]:
    value = _raw(name) or default
    scheme = urlparse(value).scheme
    if scheme not in ("sqlite", "postgres", "postgresql", "pgsql"):
        raise _bad(name, value, "sqlite:///path or postgres://user@host:port/dbname")
    try:
        config = _env.db_url_config(value)
    except Exception as exc:  # environ raises several types for bad URLs
        raise _bad(name, value, f"a parseable database URL ({exc})") from None
    if config["ENGINE"].endswith("postgresql") and not config.get("NAME"):
        raise _bad(name, value, "a PostgreSQL URL that names the database")
    return config


def env_networks(name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated addresses or CIDR networks (`10.0.0.0/8, 192.0.2.7`); empty when unset."""
    networks = []
    for item in env_list(name, []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise _bad(name, item, "comma-separated IP addresses or CIDR networks like 10.0.0.0/8") from None
    return tuple(networks)
