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

Fast Track takes one event per request, so a wave of events (the outbox's next event of each
of many players, never two of one player) goes out on up to FASTTRACK_REST_CONNECTIONS
kept-alive connections at once (libcurl's multi interface): one wait for several answers. Sent
one at a time, a wave waits one round trip per event: at 20 ms to Fast Track that is 50 events
a second, fewer than the callbacks of a busy evening make. Each call starts with one request
alone and doubles the requests in flight after each acceptance (as TCP's slow start does), so
an endpoint that is down costs two failed requests, not a connection's worth, and the first
request of a wave is answered before the others are sent.

A curl handle must not be used by two threads at once, and a transport may be shared
(crm.transports.set_override), so each thread gets its own handles.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from io import BytesIO

import pycurl

from crm import conf
from crm.transports import DeliveryError, Message, NotSent, PermanentError, TransientError, Transport

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
        connections: int | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + PATH
        self.api_key = api_key
        # "Expect:" stops libcurl from asking for 100-continue before a larger body (a round trip).
        self._headers = ["Content-Type: application/json", f"X-Api-Key: {api_key}", "Expect:"]
        self._timeout_ms = int(1000 * (timeout or conf.HTTP_TIMEOUT))
        self._connect_timeout_ms = int(1000 * (connect_timeout or conf.HTTP_CONNECT_TIMEOUT))
        self.connections = max(1, connections or conf.REST_CONNECTIONS)
        self._local = threading.local()
        self._handles: list[pycurl.Curl] = []
        self._multis: list[pycurl.CurlMulti] = []
        self._lock = threading.Lock()

    def _easy(self) -> tuple[pycurl.Curl, BytesIO]:
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
        with self._lock:
            self._handles.append(curl)
        return curl, answer

    def _handle(self) -> tuple[pycurl.Curl, BytesIO]:
        found = getattr(self._local, "handle", None)
        if found is None:
            found = self._local.handle = self._easy()
        return found

    def _multi(self) -> tuple[pycurl.CurlMulti, list[tuple[pycurl.Curl, BytesIO]]]:
        """This thread's multi handle (its connection cache keeps the connections alive between
        calls) and its idle easy handles."""
        found = getattr(self._local, "multi", None)
        if found is None:
            multi = pycurl.CurlMulti()
            multi.setopt(pycurl.M_MAXCONNECTS, self.connections)
            found = self._local.multi = (multi, [self._easy() for _ in range(self.connections)])
            with self._lock:
                self._multis.append(multi)
        return found

    def send(self, message: Message) -> None:
        curl, answer = self._handle()
        answer.seek(0)
        answer.truncate()
        curl.setopt(pycurl.POSTFIELDS, message.body)
        try:
            curl.perform()
        except pycurl.error as exc:
            code, text = exc.args if len(exc.args) == 2 else (None, str(exc))
            raise _curl_error(code, text) from exc
        _raise_for(curl.getinfo(pycurl.RESPONSE_CODE), answer)

    def send_many(self, messages: Sequence[Message], deadline: float | None = None) -> list[DeliveryError | None]:
        """Up to `connections` requests in flight, one alone at first (see the module's doc).

        As the serial path does: after two transient failures in a row (in the order answers
        came back) or once `deadline` has passed, nothing more is sent and the rest are NotSent;
        what is in flight then is answered or times out."""
        if self.connections == 1 or len(messages) < 2:  # one at a time: the base class's serial path, as before
            return super().send_many(messages, deadline)
        multi, idle = self._multi()
        outcomes: list[DeliveryError | None] = [NotSent("not sent: the endpoint is unavailable")] * len(messages)
        in_flight: dict[pycurl.Curl, tuple[int, BytesIO]] = {}
        window, failures_in_a_row, following = 1, 0, 0
        try:
            while True:
                while following < len(messages) and len(in_flight) < window and failures_in_a_row < 2:
                    if deadline is not None and following and time.monotonic() >= deadline:
                        for index in range(following, len(messages)):
                            outcomes[index] = NotSent("not sent: deadline")
                        following = len(messages)
                        break
                    curl, answer = idle.pop()
                    answer.seek(0)
                    answer.truncate()
                    curl.setopt(pycurl.POSTFIELDS, messages[following].body)
                    multi.add_handle(curl)
                    in_flight[curl] = (following, answer)
                    following += 1
                if not in_flight:
                    return outcomes
                while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                    pass
                answered = False
                while True:
                    queued, done, failed = multi.info_read()
                    for curl, code, text in [(c, None, "") for c in done] + list(failed):
                        answered = True
                        multi.remove_handle(curl)
                        index, answer = in_flight.pop(curl)
                        idle.append((curl, answer))
                        try:
                            if code is not None:
                                raise _curl_error(code, text)
                            _raise_for(curl.getinfo(pycurl.RESPONSE_CODE), answer)
                        except TransientError as exc:
                            outcomes[index] = exc
                            failures_in_a_row += 1
                            window = 1
                        except DeliveryError as exc:
                            outcomes[index] = exc
                            failures_in_a_row = 0
                        else:
                            outcomes[index] = None
                            failures_in_a_row = 0
                            window = min(window * 2, self.connections)
                    if not queued:
                        break
                if in_flight and not answered:
                    wait = multi.timeout()
                    multi.select(1.0 if wait < 0 else min(wait, 1000) / 1000)
        finally:  # an exception mid-call: no handle may stay in the multi handle, half sent
            for curl, (_, answer) in in_flight.items():
                multi.remove_handle(curl)
                idle.append((curl, answer))

    def close(self) -> None:
        """Close every thread's handles (and their connections); the next send opens new ones."""
        with self._lock:
            handles, self._handles = self._handles, []
            multis, self._multis = self._multis, []
        self._local = threading.local()
        for multi in multis:
            try:
                multi.close()
            except pycurl.error:
                pass
        for curl in handles:
            try:
                curl.close()
            except pycurl.error:  # another thread is mid-request: its handle goes with the thread
                pass


def _curl_error(code: int | None, text: str) -> TransientError:
    kind = "timeout" if code == pycurl.E_OPERATION_TIMEDOUT else "network error"
    return TransientError(f"{kind}: curl {code}: {text}")


def _raise_for(status: int, answer: BytesIO) -> None:
    """Only 200 is delivered; 408, 425, 429 and 5xx come again later; any other 4xx never will."""
    if status == 200:
        return
    detail = f"HTTP {status}: {answer.getvalue()[:500].decode('utf-8', 'replace')}"
    if 400 <= status < 500 and status not in _RETRYABLE_4XX:
        raise PermanentError(detail)
    raise TransientError(detail)
