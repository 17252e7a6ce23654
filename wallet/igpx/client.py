"""Touchline -> IGPX calls: `auth` (token cached per process) and `start-session`.

- The token is refreshed once 80% of its `expires_in` has passed (string or number).
- A 401 on start-session means the provider dropped our token early: re-authenticate once
  and retry once.
- Network errors and 5xx answers are retried with exponential backoff, a bounded number of
  times; then `IgpxUnavailable` says what failed, where and how often.
- Secrets (password, token) are never logged nor put in error messages.

Never call this inside a database transaction (no network I/O there).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from wallet.errors import ProviderUnavailable
from wallet.igpx import conf, protocol
from wallet.igpx.protocol import IgpxError
from wallet.money import loads

logger = logging.getLogger("touchline.wallet.igpx.client")

REFRESH_AT = 0.8  # fraction of the token's lifetime after which we fetch a new one


class IgpxUnavailable(ProviderUnavailable):
    """The IGPX API could not be reached or refused us: shown as "sportsbook unavailable"."""

    code = "sportsbook_unavailable"


class IgpxClient:
    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        username: str,
        password: str,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url:
            raise IgpxUnavailable("IGPX_API_URL is not configured")
        self.api_root = f"{base_url.rstrip('/')}/{version.strip('/')}" if version else base_url.rstrip("/")
        self._username = username
        self._password = password
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._clock = clock
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def close(self) -> None:
        self._http.close()

    # --- token ---------------------------------------------------------------------------

    def token(self, *, force: bool = False) -> str:
        """A valid token, from the cache unless it is 80% through its life (or `force`)."""
        with self._lock:  # one auth call at a time per process; the others wait and reuse it
            if not force and self._token is not None and self._clock() < self._refresh_at:
                return self._token
            data = self._call("auth", protocol.auth_body(self._username, self._password))
            try:
                token = protocol.parse_auth_response(data)
            except IgpxError as exc:
                raise IgpxUnavailable(f"IGPX auth: {exc.message}") from None
            self._token = token.token
            self._refresh_at = self._clock() + token.expires_in * REFRESH_AT
            logger.info("igpx auth ok, token valid for %ss", token.expires_in)
            return token.token

    def invalidate_token(self) -> None:
        with self._lock:
            self._token = None

    # --- calls ---------------------------------------------------------------------------

    def start_session(self, *, user_id: str, currency: str, lang: str | None = None) -> str:
        """The iframe URL for this player and currency."""
        body = protocol.start_session_body(user_id=user_id, currency=currency, lang=lang)
        try:
            data = self._call("start-session", body, token=self.token())
        except _Unauthorized:
            # The provider dropped our token before its expiry: re-authenticate and retry once.
            logger.warning("igpx start-session got 401: re-authenticating once")
            try:
                data = self._call("start-session", body, token=self.token(force=True))
            except _Unauthorized:
                raise IgpxUnavailable("IGPX start-session: the provider refused a fresh token (HTTP 401)") from None
        try:
            return protocol.parse_start_session_response(data)
        except IgpxError as exc:
            raise IgpxUnavailable(f"IGPX start-session: {exc.message}") from None

    def _call(self, name: str, body: dict[str, Any], *, token: str | None = None) -> Any:
        """POST one JSON call with retries on network errors and 5xx; the decoded JSON answer."""
        url = f"{self.api_root}/{name}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        problem = ""
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                delay = self._backoff * 2 ** (attempt - 2) * (1 + random.random() / 2)  # jitter spreads retries
                self._sleep(delay)
            started = time.perf_counter()
            try:
                response = self._http.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:  # connect/read timeouts, refused, reset, DNS…
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                logger.warning("igpx %s attempt %d/%d failed: %s", name, attempt, self._attempts, problem)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            logger.info("igpx %s -> HTTP %d in %.0f ms (attempt %d)", name, response.status_code, elapsed, attempt)
            if response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code == 401:
                if token is None:
                    raise IgpxUnavailable(f"IGPX {name}: the provider refused our credentials (HTTP 401)")
                raise _Unauthorized()
            if response.status_code != 200:
                raise IgpxUnavailable(f"IGPX {name}: HTTP {response.status_code} {response.text[:200]!r}")
            try:
                return loads(response.content)
            except ValueError:
                raise IgpxUnavailable(f"IGPX {name}: the answer is not JSON") from None
        raise IgpxUnavailable(f"IGPX {name} at {url} failed after {self._attempts} attempts: {problem}")


class _Unauthorized(Exception):
    pass


# --- The process-wide client ---------------------------------------------------------------

_client: IgpxClient | None = None
_client_config: tuple | None = None
_client_lock = threading.Lock()


def get_client() -> IgpxClient:
    """The client for the current settings, shared by the process so its token cache is too.

    With IGPX_API_URL unset (the demo), an in-process fake IGPX API stands in, unless
    IGPX_FAKE_API=false.
    """
    global _client, _client_config
    username, password = conf.credentials()
    base_url = conf.api_url()
    if not base_url:
        if not conf.FAKE_API:
            raise IgpxUnavailable("IGPX_API_URL is not configured")
        from wallet.igpx.simulator import shared_fake_api  # demo only: keep it out of the import path

        fake = shared_fake_api(username=username or "touchline-demo", password=password or "touchline-demo")
        base_url, username, password = fake.base_url, fake.username, fake.password
    config = (base_url, conf.api_version(), username, password)
    with _client_lock:
        if _client is None or _client_config != config:
            if _client is not None:
                _client.close()
            _client = IgpxClient(
                base_url=base_url,
                version=conf.api_version(),
                username=username,
                password=password,
                connect_timeout=conf.CONNECT_TIMEOUT_MS / 1000,
                read_timeout=conf.READ_TIMEOUT_MS / 1000,
                attempts=conf.HTTP_ATTEMPTS,
                backoff=conf.BACKOFF_MS / 1000,
            )
            _client_config = config
        return _client


def reset_client() -> None:
    """Forget the process-wide client (tests change settings between cases)."""
    global _client, _client_config
    with _client_lock:
        if _client is not None:
            _client.close()
        _client, _client_config = None, None
