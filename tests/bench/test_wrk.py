"""The wrk-driven closed loop of the wallet HTTP benchmarks (bench/_http_wrk.py): the requests it
prepares are the Python client's, and wrk sends each client's in order and checks every answer."""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import _http_wrk
from bench._http_load import Round, request_of
from bench.wallet_http import PROVIDER, SECRET

SEEDED = {"players": 40, "ext0": 700_000}


def records(path: Path) -> list[bytes]:
    return path.read_bytes().split(_http_wrk.SEPARATOR)


def test_each_client_gets_the_python_client_s_rounds_signed_and_marked(tmp_path: Path) -> None:
    _http_wrk.write_requests(PROVIDER, 3, SEEDED, 50, tmp_path, "s", decline_share=0.3)
    for cid in range(3):
        got = records(tmp_path / f"client_{cid}.req")
        assert len(got) == 50
        # The same rounds the Python client plays from the same seed, in the same order.
        rnd, expected = random.Random(f"{cid}-s"), []
        while len(expected) < 50:
            this = Round(rnd, rnd.randrange(SEEDED["players"]), SEEDED)
            steps = list(PROVIDER.decline.steps) if rnd.random() < 0.3 else []
            for step in [*steps, *PROVIDER.pick(rnd).steps]:
                expected.append((step, request_of(step, this)))
        for record, (step, (method, path, body)) in zip(got, expected[:50], strict=True):
            head, _, sent = record[1:].partition(b"\r\n\r\n")
            assert record[:1] == (b"E" if step.expect_error else b"O")
            assert head.startswith(f"{method} {path} HTTP/1.1\r\n".encode())
            assert sent == body
            assert f"Content-Length: {len(body)}".encode() in head
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert f"X-Security-Hash: {signature}".encode() in head
        assert any(r[:1] == b"E" for r in got) and any(r[:1] == b"O" for r in got)


class _Recorder(BaseHTTPRequestHandler):
    """Each connection's bodies and arrival times; a body with "decline" in it is answered as an error."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the head and the body are two writes: no 40 ms wait for an ACK
    seen: dict[int, list[bytes]] = {}
    arrivals: dict[int, list[float]] = {}
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.seen.setdefault(self.client_address[1], []).append(body)
            self.arrivals.setdefault(self.client_address[1], []).append(time.perf_counter())
        answer = b'{"error": "DECLINED"}' if b"decline" in body else b'{"error": null, "ok": 1}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.skipif(not _http_wrk.available(), reason="wrk is not installed (apt-get install wrk)")
def test_wrk_sends_every_client_s_requests_in_order_and_counts_wrong_answers(tmp_path: Path) -> None:
    _Recorder.seen, _Recorder.arrivals = {}, {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sent = {}
        for cid in range(2):
            bodies = [f'{{"client": {cid}, "n": {n}}}'.encode() for n in range(20)]
            bodies[5] = b'{"decline": 1}'  # answered as an error, and marked so: as expected
            bodies[9] = b'{"decline": 2}'  # answered as an error, marked as a success: counted
            marks = [b"E" if n == 5 else b"O" for n in range(20)]
            (tmp_path / f"client_{cid}.req").write_bytes(
                _http_wrk.SEPARATOR.join(
                    mark + b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                    for mark, body in zip(marks, bodies, strict=True)
                )
            )
            sent[cid] = bodies
        figures = _http_wrk.run(server.server_address[1], tmp_path, 2, 2)
    finally:
        server.shutdown()
    # Both clients ran out (20 requests each), each answer was checked against its mark.
    assert figures["exhausted"] == 2
    assert figures["mismatched"] == 2
    assert all("DECLINED" in sample for sample in figures["samples"])
    by_connection = sorted(_Recorder.seen.values(), key=lambda got: got[0])
    assert len(by_connection) == 2
    for got, bodies in zip(by_connection, (sent[0], sent[1]), strict=True):
        # In file order from the first (wrk's start-up check of the first thread's request()
        # uses none); the request asked for after the last repeats it.
        assert got[:20] == bodies
        assert got[20:] in ([], [bodies[-1]])


@pytest.mark.skipif(not _http_wrk.available(), reason="wrk is not installed (apt-get install wrk)")
def test_wrk_paces_each_client_and_counts_latency_from_the_due_time(tmp_path: Path) -> None:
    _Recorder.seen, _Recorder.arrivals = {}, {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for cid in range(2):
            bodies = [f'{{"client": {cid}, "n": {n}}}'.encode() for n in range(200)]
            bodies[30] = b'{"decline": 1}'  # due at ~0.6 s: counted, and answered as an error unasked
            (tmp_path / f"client_{cid}.req").write_bytes(
                _http_wrk.SEPARATOR.join(
                    b"OPOST /x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body) + body for body in bodies
                )
            )
            (tmp_path / f"client_{cid}.kinds").write_text("".join(f"kind {n % 2}\n" for n in range(200)))
        # 100 requests/s over 2 connections: one every 20 ms on each, 0.3 s not counted, then 1 s.
        stats = _http_wrk.run_paced(server.server_address[1], tmp_path, 2, 0.3, 1.0, 100.0)
    finally:
        server.shutdown()
    # Due 10 ms apart across the two clients: ~100 counted, each due within the counted second.
    ats = sorted(at for at, _ in stats.due)
    assert 95 <= len(ats) <= 101
    assert 0.3 <= ats[0] < 0.32 and 1.28 < ats[-1] <= 1.3
    assert all(0.0 < ms < 50.0 for _, ms in stats.due), (
        sorted(ms for _, ms in stats.due)[:3] + sorted(ms for _, ms in stats.due)[-3:]
    )
    assert set(stats.latencies) == {"kind 0", "kind 1"}  # a kind's name may hold a space, as Betsy's do
    assert stats.errors == {"kind 0: unexpected answer": 2}  # request 30 of each client (kind 0), declined
    for arrivals in _Recorder.arrivals.values():
        gaps = [b - a for a, b in zip(arrivals[5:], arrivals[6:], strict=False)]
        assert 0.015 < sorted(gaps)[len(gaps) // 2] < 0.025  # one request every 20 ms on each connection
