"""REST: POST {FASTTRACK_API_URL}/v1/integration/sports with X-Api-Key.

Only HTTP 200 means delivered. 5xx, 408, 425, 429, other non-200 answers and network errors
are transient (the outbox retries with exponential backoff). Any other 4xx is permanent:
Fast Track refused this event and will refuse it again, so it is dead-lettered for staff.
"""

from __future__ import annotations

import httpx

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
        client: httpx.Client | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + PATH
        self.api_key = api_key
        self._timeout = httpx.Timeout(
            timeout or conf.HTTP_TIMEOUT, connect=connect_timeout or conf.HTTP_CONNECT_TIMEOUT
        )
        self._client = client

    def _http(self) -> httpx.Client:
        # httpx.Client is thread-safe and keeps connections alive between events.
        if self._client is None:
            self._client = httpx.Client(timeout=self._timeout)
        return self._client

    def send(self, message: Message) -> None:
        headers = {"Content-Type": "application/json", "X-Api-Key": self.api_key}
        try:
            response = self._http().post(self.url, content=message.body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientError(f"timeout: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"network error: {exc!r}") from exc
        status = response.status_code
        if status == 200:
            return
        detail = f"HTTP {status}: {response.text[:500]}"
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise PermanentError(detail)
        raise TransientError(detail)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
