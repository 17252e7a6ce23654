"""The REST transport sends a wave of events on several kept-alive connections at once, starting
with one request alone, and stops as the serial path does when the endpoint is down."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crm.transports import Message, NotSent, PermanentError, TransientError
from crm.transports.rest import RestTransport


class _Endpoint:
    """Answers each POST with the status its body names (b"422"), else 200, after `delay` seconds
    or as soon as `hold` requests are in flight; records how many requests were in flight as
    each arrived, and the client ports."""

    def __init__(self, delay: float = 0.02, hold: int = 0) -> None:
        self.delay, self.hold = delay, hold
        self.lock = threading.Lock()
        self.crowd = threading.Condition(self.lock)
        self.in_flight = 0
        self.seen: list[tuple[bytes, int]] = []  # (body, requests in flight with it, itself included)
        self.finished: list[bytes] = []
        self.ports: set[int] = set()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with endpoint.lock:
                    endpoint.in_flight += 1
                    endpoint.seen.append((body, endpoint.in_flight))
                    endpoint.ports.add(self.client_address[1])
                    endpoint.crowd.notify_all()
                    endpoint.crowd.wait_for(
                        lambda: endpoint.hold and endpoint.in_flight >= endpoint.hold, timeout=endpoint.delay
                    )
                status = int(body) if body.isdigit() else 200
                answer = b'{"status":"ok"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                with endpoint.lock:
                    endpoint.in_flight -= 1
                    endpoint.finished.append(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    server = _Endpoint()
    yield server
    server.close()


def messages(*bodies: bytes) -> list[Message]:
    return [Message(activity_id=f"tl-bet-{i}", user_id=str(i), body=body) for i, body in enumerate(bodies)]


def test_a_wave_goes_out_on_several_connections_at_once_and_keeps_them():
    endpoint = _Endpoint(delay=0.3, hold=4)  # a request waits for 3 others, or 0.3 s
    transport = RestTransport(endpoint.url, "key", connections=4)
    try:
        wave = messages(*[b"{}"] * 19)  # 1, 2, then 4 at a time
        assert transport.send_many(wave) == [None] * 19
        assert transport.send_many(wave) == [None] * 19
    finally:
        transport.close()
        endpoint.close()
    assert len(endpoint.seen) == 38
    assert max(n for _, n in endpoint.seen) == 4  # never more than the connections
    assert len(endpoint.ports) == 4  # the second wave reused the first one's connections


def test_the_first_request_is_answered_before_the_others_go(endpoint):
    transport = RestTransport(endpoint.url, "key", connections=8)
    try:
        assert transport.send_many(messages(b'{"first":1}', *[b"{}"] * 9)) == [None] * 10
    finally:
        transport.close()
    assert endpoint.seen[0] == (b'{"first":1}', 1)
    assert endpoint.finished[0] == b'{"first":1}'
    # then 2 at once, 4, then what is left: the window doubles after each acceptance
    assert [n for _, n in endpoint.seen][1:3] == [1, 2]


def test_each_answer_is_classified_as_the_serial_path_does(endpoint):
    transport = RestTransport(endpoint.url, "key", connections=2)  # no two transient failures at once
    try:
        outcomes = transport.send_many(messages(b"{}", b"422", b"{}", b"503", b"{}", b"{}", b"{}", b"429"))
    finally:
        transport.close()
    kinds = [type(o).__name__ if o else None for o in outcomes]
    assert kinds == [None, "PermanentError", None, "TransientError", None, None, None, "TransientError"]
    assert "HTTP 422" in str(outcomes[1]) and "HTTP 503" in str(outcomes[3])


def test_an_endpoint_that_is_down_costs_two_requests_not_a_connection_each():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = RestTransport(f"http://127.0.0.1:{port}", "key", connect_timeout=1, connections=8)
    try:
        outcomes = transport.send_many(messages(*[b"{}"] * 10))
    finally:
        transport.close()
    assert [type(o) for o in outcomes[:2]] == [TransientError, TransientError]
    assert "network error" in str(outcomes[0])
    assert all(isinstance(o, NotSent) and "unavailable" in str(o) for o in outcomes[2:])


def test_two_failures_in_a_row_stop_the_wave(endpoint):
    transport = RestTransport(endpoint.url, "key", connections=4)
    try:
        outcomes = transport.send_many(messages(b"{}", b"503", b"503", b"{}", b"{}"))
    finally:
        transport.close()
    assert outcomes[0] is None
    assert [type(o) for o in outcomes[1:3]] == [TransientError, TransientError]
    assert all(isinstance(o, NotSent) for o in outcomes[3:])
    assert len(endpoint.seen) == 3


def test_nothing_more_is_sent_once_the_deadline_has_passed(endpoint):
    transport = RestTransport(endpoint.url, "key", connections=4)
    try:
        outcomes = transport.send_many(messages(*[b"{}"] * 5), deadline=time.monotonic() - 1)
    finally:
        transport.close()
    assert outcomes[0] is None  # as the serial path: at least one goes
    assert all(isinstance(o, NotSent) and "deadline" in str(o) for o in outcomes[1:])


def test_a_permanent_refusal_does_not_count_as_a_failure_in_a_row(endpoint):
    transport = RestTransport(endpoint.url, "key", connections=2)
    try:
        outcomes = transport.send_many(messages(b"503", b"400", b"503", b"{}"))
    finally:
        transport.close()
    assert [type(o) if o else None for o in outcomes] == [TransientError, PermanentError, TransientError, None]
