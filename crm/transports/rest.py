"""REST: POST {FASTTRACK_API_URL}/v1/integration/sports with X-Api-Key.

Only HTTP 200 means delivered. 5xx, 408, 425, 429, other non-200 answers and network errors
are transient (the outbox retries with exponential backoff). Any other 4xx is permanent:
Fast Track refused this event and will refuse it again, so it is dead-lettered for staff.

The client is libcurl (pycurl): Fast Track takes one event per request, so the client's cost
per request is the delivery worker's cost per event, and the worker shares the machine with
the wallet callbacks. Measured per POST on this machine (docs/benchmarks/crm.md): httpx ~380 µs
of CPU, urllib3 ~200 µs (http.client parses every response's headers with the email package),
libcurl ~55 µs. libcurl keeps the connection alive, does TLS, chunked answers and proxies from
the environment as any HTTP client would; it never retries or follows redirects here: a POST
that may have reached Fast Track is the outbox's to retry, with its backoff and its records.

A curl handle must not be used by two threads at once, and a transport may be shared
(crm.transports.set_override), so each thread gets its own handle.
"""

from __future__ import annotations

import threading
from io import BytesIO

import pycurl

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
        # "Expect:" stops libcurl from asking for 100-continue before a larger body (a round trip).
        self._headers = ["Content-Type: application/json", f"X-Api-Key: {api_key}", "Expect:"]
        self._timeout_ms = int(1000 * (timeout or conf.HTTP_TIMEOUT))
        self._connect_timeout_ms = int(1000 * (connect_timeout or conf.HTTP_CONNECT_TIMEOUT))
        self._local = threading.local()
        self._handles: list[pycurl.Curl] = []
        self._lock = threading.Lock()

    def _handle(self) -> tuple[pycurl.Curl, BytesIO]:
        found = getattr(self._local, "handle", None)
        if found is not None:
            return found
        curl = pycurl.Curl()
        answer = BytesIO()
        curl.setopt(pycurl.URL, self.url)
        curl.setopt(pycurl.POST, 1)
        curl.setopt(pycurl.HTTPHEADER, self._headers)
        curl.setopt(pycurl.WRITEDATA, answer)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.NOSIGNAL, 1)  # timeouts without SIGALRM: safe in threads
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, self._connect_timeout_ms)
        curl.setopt(pycurl.TIMEOUT_MS, self._timeout_ms)
        self._local.handle = (curl, answer)
        with self._lock:
            self._handles.append(curl)
        return curl, answer

    def send(self, message: Message) -> None:
        curl, answer = self._handle()
        answer.seek(0)
        answer.truncate()
        curl.setopt(pycurl.POSTFIELDS, message.body)
        try:
            curl.perform()
        except pycurl.error as exc:
            code, text = exc.args if len(exc.args) == 2 else (None, str(exc))
            kind = "timeout" if code == pycurl.E_OPERATION_TIMEDOUT else "network error"
            raise TransientError(f"{kind}: curl {code}: {text}") from exc
        status = curl.getinfo(pycurl.RESPONSE_CODE)
        if status == 200:
            return
        detail = f"HTTP {status}: {answer.getvalue()[:500].decode('utf-8', 'replace')}"
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise PermanentError(detail)
        raise TransientError(detail)

    def close(self) -> None:
        """Close every thread's handle (and its connection); the next send opens a new one."""
        with self._lock:
            handles, self._handles = self._handles, []
        self._local = threading.local()
        for curl in handles:
            try:
                curl.close()
            except pycurl.error:  # another thread is mid-request: its handle goes with the thread
                pass
