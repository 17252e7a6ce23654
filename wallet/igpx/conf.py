"""IGPX settings. The five provider variables live in config/settings.py (IGPX_API_URL,
IGPX_API_VERSION, IGPX_USERNAME, IGPX_PASSWORD, IGPX_SECURITY_HASH); the client's tuning
knobs are read here, each with a default that works with nothing set."""

from __future__ import annotations

from django.conf import settings

from config.env import env_bool, env_int
from wallet import allowlist

# Outbound calls (auth, start-session): protocols/igpx.md §2.2 decides 3 s connect, 10 s read.
CONNECT_TIMEOUT_MS = env_int("IGPX_CONNECT_TIMEOUT_MS", 3000, minimum=100)
READ_TIMEOUT_MS = env_int("IGPX_READ_TIMEOUT_MS", 10000, minimum=100)
# Attempts per outbound call on a network error or a 5xx (1 = no retry), with exponential backoff.
HTTP_ATTEMPTS = env_int("IGPX_HTTP_ATTEMPTS", 3, minimum=1, maximum=10)
BACKOFF_MS = env_int("IGPX_BACKOFF_MS", 200, minimum=0)
# With IGPX_API_URL unset, session launches go to an in-process fake IGPX API (the demo needs
# nothing configured). Set IGPX_FAKE_API=false to make an unset URL an error instead.
FAKE_API = env_bool("IGPX_FAKE_API", True)


def api_url() -> str:
    return settings.IGPX_API_URL


def api_version() -> str:
    return settings.IGPX_API_VERSION


def security_hash() -> str:
    return settings.IGPX_SECURITY_HASH


def credentials() -> tuple[str, str]:
    return settings.IGPX_USERNAME, settings.IGPX_PASSWORD


# Addresses the callbacks are accepted from (IPs or networks); empty: any (wallet/allowlist.py).
ALLOWED_IPS = allowlist.from_env("IGPX_ALLOWED_IPS")
