"""FakeUofApi: a small threaded HTTP server speaking the UOF REST API (whoami, producers,
descriptions, fixtures, recovery requests), checking x-access-token."""

from __future__ import annotations

import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape

from feeds.protocol.producers import KNOWN_PRODUCERS
from feeds.simulator.feed import FeedSimulator
from feeds.simulator.matches import LIVE, PREMATCH
from feeds.simulator.samples import sample_bytes

logger = logging.getLogger("touchline.feeds.simulator")

_PRODUCER_PATHS = {p.path: p.id for p in KNOWN_PRODUCERS.values()}


class FakeUofApi:
    """GET descriptions/fixtures/whoami and POST recovery requests, like api.betradar.com/v1."""

    def __init__(
        self,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        simulator: FeedSimulator | None = None,
        producers: tuple[int, ...] = (LIVE, PREMATCH),
    ) -> None:
        self.token = token
        self.simulator = simulator
        self.producers = producers
        self.requests: list[tuple[str, str]] = []
        self.recoveries: list[dict[str, object]] = []
        self.fail_recovery = False
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-uof-api", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeUofApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- responses -------------------------------------------------------------------------------

    def producers_xml(self) -> bytes:
        rows = []
        for p in KNOWN_PRODUCERS.values():
            active = "true" if p.id in self.producers else "false"
            rows.append(
                f'<producer id="{p.id}" name="{p.name}" description="{p.name}" api_url="{self.base_url}/{p.path}/" '
                f'active="{active}" scope="{p.scope}" stateful_recovery_window_in_minutes="{p.window_minutes}"/>'
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><producers response_code="OK">' + "".join(rows) + "</producers>"
        ).encode()

    def route(self, method: str, path: str, query: dict[str, list[str]], token: str | None) -> tuple[int, bytes]:
        self.requests.append(
            (method, path + ("?" + "&".join(f"{k}={v[0]}" for k, v in sorted(query.items())) if query else ""))
        )
        if token != self.token:
            return 403, _response("FORBIDDEN", "Access denied", "invalid or missing x-access-token")
        path = path.removeprefix("/v1")
        if method == "GET":
            return self._get(path)
        if method == "POST":
            return self._post(path, query)
        return 405, _response("METHOD_NOT_ALLOWED", "", method)

    def _get(self, path: str) -> tuple[int, bytes]:
        files = {
            "/users/whoami.xml": "rest_whoami_1.xml",
            "/descriptions/void_reasons.xml": "rest_void_reasons_1.xml",
            "/descriptions/betstop_reasons.xml": "rest_betstop_reasons_1.xml",
            "/descriptions/betting_status.xml": "rest_betting_status_1.xml",
            "/descriptions/en/match_status.xml": "rest_match_status_1.xml",
            "/descriptions/en/markets.xml": "rest_markets_1.xml",
            "/descriptions/en/variants.xml": "rest_variants_1.xml",
        }
        if path in files:
            return 200, sample_bytes(files[path])
        if path == "/descriptions/producers.xml":
            return 200, self.producers_xml()
        match = re.fullmatch(r"/descriptions/en/markets/(\d+)/variants/(.+)", path)
        if match:
            body = sample_bytes("rest_variant_market_1.xml")
            if match.group(1) == "10030" and unquote(match.group(2)) == "lcoo:markettext:33421":
                return 200, body
            return 404, sample_bytes("rest_not_found_1.xml")
        match = re.fullmatch(r"/sports/en/sport_events/([^/]+)/(fixture|fixture_change_fixture)\.xml", path)
        if match:
            urn = unquote(match.group(1))
            samples = {"sr:match:8696826": "rest_fixture_1.xml", "sr:match:18001015": "rest_fixture_2.xml"}
            if urn in samples:
                return 200, sample_bytes(samples[urn])
            body = self.simulator.fixture_xml(urn) if self.simulator else None
            if body is not None:
                return 200, body
        return 404, sample_bytes("rest_not_found_1.xml")

    def _post(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        parts = path.strip("/").split("/")
        product = _PRODUCER_PATHS.get(parts[0]) if parts else None
        if product is None:
            return 404, sample_bytes("rest_not_found_1.xml")
        if product not in self.producers:
            return 403, _response("FORBIDDEN", "Producer not enabled", f"producer {product}")
        try:
            request_id = int(query["request_id"][0])
        except (KeyError, ValueError):
            return 400, _response("BAD_REQUEST", "", "request_id is required")
        node = query.get("node_id", [None])[0]
        node_id = int(node) if node not in (None, "") else None
        after = query.get("after", [None])[0]
        event_urn = None
        if parts[1:] == ["recovery", "initiate_request"]:
            pass
        elif (
            len(parts) == 5
            and parts[1] in ("odds", "stateful_messages")
            and parts[2] == "events"
            and parts[4] == "initiate_request"
        ):
            event_urn = unquote(parts[3])
        else:
            return 404, sample_bytes("rest_not_found_1.xml")
        self.recoveries.append(
            {"product": product, "request_id": request_id, "node_id": node_id, "after": after, "event": event_urn}
        )
        if self.fail_recovery:
            return 500, _response("INTERNAL_SERVER_ERROR", "", "simulated failure")
        if self.simulator is not None:
            self.simulator.request_recovery(product, request_id, node_id, event_urn)
        return 202, _response("ACCEPTED", "Request for recovery accepted", f"request_id={request_id}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                try:
                    status, body = api.route(method, url.path, parse_qs(url.query), self.headers.get("x-access-token"))
                except Exception as exc:  # a fake server must not die on a bug
                    logger.exception("fake UOF API")
                    status, body = 500, _response("INTERNAL_SERVER_ERROR", "", str(exc))
                self.send_response(status)
                self.send_header("content-type", "application/xml")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                logger.debug("fake UOF API: " + format, *args)

        return Handler


def _response(code: str, action: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><response response_code="{code}">'
        f"<action>{escape(action)}</action><message>{escape(message)}</message></response>"
    ).encode()
