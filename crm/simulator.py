"""A fake Fast Track REST endpoint for the demo and the tests.

It speaks the real wire format: `POST /v1/integration/sports` with `X-Api-Key`, a JSON body.
It records what it accepts, refuses (400) what breaks our schema (crm/schema), and can be
told to fail: `fail_with(503)` until `recover()`, or for the next N requests only.

    sim = FastTrackSimulator(api_key="k").start()
    ... RestTransport(sim.url, "k") ...
    sim.received  # accepted events, numbers as Decimal
    sim.stop()
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from wallet import money

logger = logging.getLogger("touchline.crm.simulator")

PATH = "/v1/integration/sports"


class _Server(ThreadingHTTPServer):
    """Remembers its open connections, so that stopping also ends kept-alive ones."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._open_lock:
            open_now, self._open = list(self._open), set()
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already gone
                pass


class FastTrackSimulator:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, api_key: str = "", validate: bool = True) -> None:
        self.api_key = api_key
        self.validate = validate
        self._lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.rejected: list[tuple[int, str]] = []
        self.requests = 0
        self._fail_status: int | None = None
        self._fail_remaining: int | None = None
        self._server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    # --- control -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FastTrackSimulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fasttrack-sim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection, as a server that went down would."""
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()

    def fail_with(self, status: int, count: int | None = None) -> None:
        """Answer `status` to every request (count=None) or to the next `count` requests."""
        with self._lock:
            self._fail_status, self._fail_remaining = status, count

    def recover(self) -> None:
        with self._lock:
            self._fail_status = self._fail_remaining = None

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.raw.clear()
            self.rejected.clear()
            self.requests = 0
        self.recover()

    def activity_ids(self) -> list[str]:
        with self._lock:
            return [event["activity_id"] for event in self.received]

    def duplicates(self) -> dict[str, int]:
        return {k: n for k, n in Counter(self.activity_ids()).items() if n > 1}

    # --- the endpoint ------------------------------------------------------------------------

    def _answer(self, headers: dict[str, str], path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            if self._fail_status is not None:
                status = self._fail_status
                if self._fail_remaining is not None:
                    self._fail_remaining -= 1
                    if self._fail_remaining <= 0:
                        self._fail_status = self._fail_remaining = None
                return status, {"error": "simulated failure", "code": status}
        if path != PATH:
            return 404, {"error": f"unknown path {path}", "code": 404}
        if self.api_key and headers.get("x-api-key", "") != self.api_key:
            return 401, {"error": "invalid X-Api-Key", "code": 401}
        try:
            event = money.loads(body)
        except ValueError as exc:
            return self._reject(400, f"invalid JSON: {exc}")
        if self.validate:
            from crm.schema import problems

            errors = problems(event)
            if errors:
                return self._reject(400, "; ".join(errors))
        with self._lock:
            self.received.append(event)
            self.raw.append(body)
        return 200, {"status": "ok"}

    def _reject(self, status: int, reason: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.rejected.append((status, reason))
        logger.warning("fasttrack simulator refused an event: %s", reason)
        return status, {"error": reason, "code": status}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per answer, sent at once: headers and body written apart met the
            # client's delayed ACK (about 40 ms per event on a kept-alive connection).
            wbufsize = -1
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, answer = simulator._answer(headers, self.path, body)
                self._send(status, answer)

            def do_GET(self) -> None:  # noqa: N802
                # For people watching the demo: what has been received so far.
                if self.path != PATH:
                    self._send(404, {"error": "not found", "code": 404})
                    return
                with simulator._lock:
                    text = "[" + ",".join(raw.decode() for raw in simulator.raw) + "]"
                self._send_raw(200, text.encode())

            def _send(self, status: int, answer: dict[str, Any]) -> None:
                self._send_raw(status, json.dumps(answer).encode())

            def _send_raw(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                logger.debug("simulator: " + format, *args)

        return Handler
