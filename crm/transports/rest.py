"""REST: POST {FASTTRACK_API_URL}/v1/integration/sports with X-Api-Key.

Only HTTP 200 means delivered. 5xx, 408, 425, 429, other non-200 answers and network errors
are transient (the outbox retries with exponential backoff). Any other 4xx is permanent:
Fast Track refused this event and will refuse it again, so it is dead-lettered for staff.

The client is urllib3's connection pool rather than httpx: Fast Track takes one event per
request, and on the delivery worker httpx's own request machinery cost about 380 µs of CPU per
event, 40% of the worker's CPU (docs/benchmarks/crm.md). urllib3 never retries here: a POST
that may have reached Fast Track is the outbox's to retry, with its backoff and its records.
"""

from __future__ import annotations

import threading

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError

from crm import conf
from crm.transports import Message, PermanentError, TransientError, Transport

PATH = "/v1/integration/sports"
_RETRYABLE_4XX = {408, 425, 429}


class RestTransport(Transport):
    name = "rest"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + PATH
        self.api_key = api_key
        self._path = urllib3.util.parse_url(self.url).request_uri
        self._headers = {"Content-Type": "application/json", "X-Api-Key": api_key}
        self._timeout = urllib3.Timeout(
            connect=connect_timeout or conf.HTTP_CONNECT_TIMEOUT, read=timeout or conf.HTTP_TIMEOUT
        )
        self._pool: urllib3.HTTPConnectionPool | None = None
        self._lock = threading.Lock()

    def _http(self) -> urllib3.HTTPConnectionPool:
        # The pool is thread-safe and keeps connections alive between events.
        with self._lock:
            if self._pool is None:
                self._pool = urllib3.connection_from_url(
                    self.url, maxsize=4, block=False, retries=False, timeout=self._timeout
                )
            return self._pool

    def send(self, message: Message) -> None:
        try:
            response = self._http().urlopen(
                "POST", self._path, body=message.body, headers=self._headers, retries=False, redirect=False
            )
        except NewConnectionError as exc:  # urllib3 files it under timeouts; it is a refusal
            raise TransientError(f"network error: {exc!r}") from exc
        except TimeoutError as exc:
            raise TransientError(f"timeout: {exc!r}") from exc
        except HTTPError as exc:
            raise TransientError(f"network error: {exc!r}") from exc
        status = response.status
        if status == 200:
            return
        detail = f"HTTP {status}: {response.data[:500].decode('utf-8', 'replace')}"
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise PermanentError(detail)
        raise TransientError(detail)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
