"""Feed domain services: applying messages (ingest, state, store), producers and recovery,
fixtures and descriptions. `client_get()` gives the REST client the tasks use."""

from __future__ import annotations

import threading

from feeds import conf
from feeds.protocol.client import UofClient

_lock = threading.Lock()
_client: UofClient | None = None
_client_key: tuple[str, str] | None = None
_override: UofClient | None = None


def client_get() -> UofClient | None:
    """The process's REST client, or None when UOF_API_URL is not set (no recovery possible)."""
    global _client, _client_key
    if _override is not None:
        return _override
    url = conf.api_url()
    if not url:
        return None
    key = (url, conf.access_token())
    with _lock:
        if _client is None or _client_key != key:
            _client = UofClient(url, conf.access_token(), timeout=conf.API_TIMEOUT_SECONDS, lang=conf.LANG)
            _client_key = key
        return _client


def client_override(client: UofClient | None) -> None:
    """Use this client instead of the configured one (the demo's fake API, tests)."""
    global _override
    _override = client
