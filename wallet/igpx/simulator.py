"""IGPX stand-ins that speak the real wire format.

- `ProviderSimulator`: the sportsbook calling our wallet. It signs and sends realistic traffic
  (bets, results and their retries, rollbacks and their retries, rollbacks that overtake their
  bet, duplicate bets) at a chosen rate against a running Touchline, and checks each answer
  against the protocol (same bytes on a repeat, BET_ROLLED_BACK after an early rollback, results
  and rollbacks always succeed). CLI: `manage.py igpx_simulate`.
- `FakeIgpxApi`: the provider's own API (`auth`, `start-session`, and an iframe page), a small
  threaded HTTP server for tests of the client and for the demo. It can fail, drop connections
  and revoke tokens on demand.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from wallet import currencies
from wallet.igpx import protocol

logger = logging.getLogger("touchline.wallet.igpx.simulator")

# --- The provider calling us ---------------------------------------------------------------


@dataclass(frozen=True)
class SimPlayer:
    user_id: str
    currency: str


@dataclass
class Stats:
    sent: int = 0
    outcomes: Counter = field(default_factory=Counter)  # "ok" or the error code
    scenarios: Counter = field(default_factory=Counter)
    anomalies: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"{self.sent} requests in {elapsed:.1f}s ({self.sent / elapsed:.1f}/s), p50 {self.percentile(0.5):.1f} ms,"
            f" p99 {self.percentile(0.99):.1f} ms; {outcomes}; anomalies={len(self.anomalies)}"
        )


@dataclass(frozen=True)
class Sent:
    payload: dict[str, Any]
    body: bytes
    answer: dict[str, Any]
    latency_ms: float

    @property
    def error(self) -> str | None:
        return self.answer.get("error")


class ProviderSimulator:
    """Sends IGPX callbacks like the provider does. One thread; `rate` requests per second."""

    def __init__(
        self,
        *,
        base_url: str,
        secret: str,
        players: list[SimPlayer],
        rate: float = 5.0,
        seed: int | None = None,
        http: httpx.Client | None = None,
        id_prefix: str | None = None,
    ) -> None:
        if not players:
            raise ValueError("the simulator needs at least one player")
        self.callback_url = base_url.rstrip("/") + "/api/igpx"
        self.secret = secret
        self.players = players
        self.rate = rate
        self.random = random.Random(seed)
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=10.0)
        self.prefix = id_prefix or f"sim-{secrets.token_hex(4)}-"
        self.stats = Stats()
        self._counter = 0
        self._next_at = time.monotonic()

    def close(self) -> None:
        """Close the keep-alive connections (if the simulator made its client)."""
        if self._owns_http:
            self.http.close()

    # --- wire ----------------------------------------------------------------------------

    def new_id(self) -> str:
        self._counter += 1
        return f"{self.prefix}{self._counter}"

    def sign(self, body: bytes) -> str:
        return protocol.sign(body, self.secret)

    def send(self, endpoint: str, payload: dict[str, Any], *, body: bytes | None = None) -> Sent:
        """POST one signed callback (paced to the rate) and decode the answer."""
        if self.rate > 0:
            delay = self._next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next_at = max(self._next_at, time.monotonic() - 1) + 1 / self.rate
        body = body if body is not None else json.dumps(payload, separators=(",", ":")).encode()
        started = time.perf_counter()
        response = self.http.post(
            f"{self.callback_url}/{endpoint}",
            content=body,
            headers={"Content-Type": "application/json", protocol.SIGNATURE_HEADER: self.sign(body)},
        )
        latency = (time.perf_counter() - started) * 1000
        self.stats.sent += 1
        self.stats.latencies_ms.append(latency)
        if response.status_code != 200:
            self._anomaly(f"{endpoint} {payload.get('transaction_id')}: HTTP {response.status_code}")
            answer: dict[str, Any] = {"error": f"HTTP_{response.status_code}"}
        else:
            try:
                answer = protocol.parse_response(response.content)
            except (ValueError, protocol.IgpxError):
                self._anomaly(f"{endpoint} {payload.get('transaction_id')}: not an IGPX answer")
                answer = {"error": "BAD_ANSWER"}
        self.stats.outcomes[answer.get("error") or "ok"] += 1
        return Sent(payload=payload, body=response.content, answer=answer, latency_ms=latency)

    def _anomaly(self, text: str) -> None:
        self.stats.anomalies.append(text)
        logger.warning("igpx simulator anomaly: %s", text)

    # --- messages ------------------------------------------------------------------------

    def _amount(self, player: SimPlayer, low: int, high: int) -> str:
        places = currencies.precision(player.currency)
        value = Decimal(self.random.randint(low * 100, high * 100)) / 100
        return str(value.quantize(Decimal(1).scaleb(-min(places, 2))))

    def bet(self, player: SimPlayer, amount: str, transaction_id: str | None = None) -> dict[str, Any]:
        return {
            "transaction_id": transaction_id or self.new_id(),
            "action": "bet",
            "user_id": player.user_id,
            "currency": player.currency,
            "amount": amount,
        }

    def result(self, player: SimPlayer, amount: str) -> dict[str, Any]:
        return {
            "transaction_id": self.new_id(),
            "action": "result",
            "user_id": player.user_id,
            "currency": player.currency,
            "amount": amount,
        }

    def rollback(self, target: dict[str, Any]) -> dict[str, Any]:
        return {
            "transaction_id": self.new_id(),
            "rollback_transaction_id": target["transaction_id"],
            "action": "rollback",
            "user_id": target["user_id"],
            "currency": target["currency"],
            "amount": target["amount"],
        }

    # --- checks --------------------------------------------------------------------------

    def _must_succeed(self, sent: Sent, what: str) -> None:
        if sent.error is not None:
            self._anomaly(f"{what} {sent.payload['transaction_id']} answered {sent.error}")

    def _resend_same(self, endpoint: str, first: Sent, times: int) -> None:
        """A provider retry: the same bytes again must get the same bytes back."""
        for _ in range(times):
            again = self.send(endpoint, first.payload, body=json.dumps(first.payload, separators=(",", ":")).encode())
            if again.body != first.body:
                self._anomaly(f"retry of {first.payload['transaction_id']} got {again.body!r}, first {first.body!r}")

    # --- scenarios -----------------------------------------------------------------------

    def scenario_bet_result(self, player: SimPlayer) -> None:
        """A bet, then its result (won or lost), the result re-sent as if unanswered."""
        bet = self.send("transaction", self.bet(player, self._amount(player, 1, 20)))
        if bet.error is not None:
            return  # declined (funds, blocked): the provider stops here
        won = self.random.random() < 0.45
        payout = str((Decimal(bet.payload["amount"]) * Decimal("1.9")).quantize(Decimal("0.01"))) if won else "0"
        if currencies.precision(player.currency) == 0:
            payout = str(int(Decimal(payout)))
        result = self.send("transaction", self.result(player, payout))
        self._must_succeed(result, "result")
        self._resend_same("transaction", result, self.random.choice((0, 0, 1, 2)))

    def scenario_bet_rollback(self, player: SimPlayer) -> None:
        """A bet the provider cancels; the rollback is retried."""
        bet = self.send("transaction", self.bet(player, self._amount(player, 1, 20)))
        rollback = self.send("transaction-rollback", self.rollback(bet.payload))
        self._must_succeed(rollback, "rollback")
        self._resend_same("transaction-rollback", rollback, self.random.choice((0, 1)))

    def scenario_rollback_before_bet(self, player: SimPlayer) -> None:
        """The bet's answer was lost, the provider rolled it back, and the rollback overtook it."""
        bet = self.bet(player, self._amount(player, 1, 20))
        rollback = self.send("transaction-rollback", self.rollback(bet))
        self._must_succeed(rollback, "rollback")
        late = self.send("transaction", bet)
        if late.error != protocol.BET_ROLLED_BACK:
            self._anomaly(f"bet {bet['transaction_id']} after its rollback answered {late.error}")

    def scenario_duplicate_bet(self, player: SimPlayer) -> None:
        """A bet delivered twice (a proxy retry): one debit, the same answer."""
        first = self.send("transaction", self.bet(player, self._amount(player, 1, 10)))
        self._resend_same("transaction", first, 1)

    def scenario_result_rollback(self, player: SimPlayer) -> None:
        """A paid result that the provider takes back (may leave debt if the money is gone)."""
        bet = self.send("transaction", self.bet(player, self._amount(player, 1, 10)))
        if bet.error is not None:
            return
        result = self.send("transaction", self.result(player, self._amount(player, 2, 30)))
        self._must_succeed(result, "result")
        rollback = self.send("transaction-rollback", self.rollback(result.payload))
        self._must_succeed(rollback, "rollback")

    SCENARIOS: tuple[tuple[str, int], ...] = (
        ("bet_result", 60),
        ("bet_rollback", 12),
        ("rollback_before_bet", 6),
        ("duplicate_bet", 12),
        ("result_rollback", 10),
    )

    def step(self) -> str:
        names, weights = zip(*self.SCENARIOS, strict=True)
        name = self.random.choices(names, weights)[0]
        getattr(self, f"scenario_{name}")(self.random.choice(self.players))
        self.stats.scenarios[name] += 1
        return name

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        duration: float | None = None,
        max_requests: int | None = None,
        progress: Callable[[Stats], None] | None = None,
        progress_every: float = 1.0,
    ) -> Stats:
        """Run scenarios until `stop` is set, `duration` seconds pass or `max_requests` are sent."""
        deadline = None if duration is None else time.monotonic() + duration
        last_report = time.monotonic()
        while True:
            if stop is not None and stop.is_set():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            if max_requests is not None and self.stats.sent >= max_requests:
                break
            try:
                self.step()
            except httpx.HTTPError as exc:
                self._anomaly(f"network error: {exc!r}")
                time.sleep(0.5)
            if progress is not None and time.monotonic() - last_report >= progress_every:
                progress(self.stats)
                last_report = time.monotonic()
        return self.stats


# --- The provider's API (auth, start-session) ----------------------------------------------


class FakeIgpxApi:
    """A fake IGPX API on 127.0.0.1, in a daemon thread. `with FakeIgpxApi() as api: api.base_url`."""

    def __init__(
        self,
        *,
        username: str = "touchline-demo",
        password: str = "touchline-demo",
        version: str = "v1",
        expires_in: Any = "3600",
        port: int = 0,
    ) -> None:
        self.username = username
        self.password = password
        self.version = version.strip("/")
        self.expires_in = expires_in  # as sent: the seed shows a string
        self.port = port
        self.auth_calls = 0
        self.session_calls = 0
        self.sessions: list[dict[str, Any]] = []
        self.requests: list[tuple[str, int]] = []  # (path, status) of every call
        self._tokens: set[str] = set()
        self._faults: list[tuple[str, str]] = []  # ("drop" or an HTTP status, path suffix or ""), FIFO
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake API first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeIgpxApi:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-igpx-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeIgpxApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, count: int = 1, status: int = 503, *, path: str = "") -> None:
        """Answer the next `count` requests (to paths ending in `path`, if given) with `status`."""
        with self._lock:
            self._faults += [(str(status), path)] * count

    def drop_next(self, count: int = 1, *, path: str = "") -> None:
        """Close the next connections without answering (a network failure for the client)."""
        with self._lock:
            self._faults += [("drop", path)] * count

    def revoke_tokens(self) -> None:
        """Forget every issued token, as if the provider expired them early."""
        with self._lock:
            self._tokens.clear()

    # --- HTTP ----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one segment, sent at once: otherwise Nagle and delayed ACKs
            # add 40 ms to every call.
            wbufsize = -1
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                logger.debug("fake igpx api: " + format, *args)

            def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with api._lock:
                    api.requests.append((urlparse(self.path).path, status))

            def _fault(self) -> bool:
                path = urlparse(self.path).path
                with api._lock:
                    index = next((i for i, f in enumerate(api._faults) if path.endswith(f[1])), None)
                    fault = api._faults.pop(index)[0] if index is not None else None
                if fault is None:
                    return False
                if fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return True
                self._send(int(fault), {"error": "SIMULATED_FAILURE"})
                return True

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self._fault():
                    return
                try:
                    data = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, {"error": "BAD_JSON"})
                    return
                path = urlparse(self.path).path
                if path == f"/{api.version}/auth":
                    self._auth(data)
                elif path == f"/{api.version}/start-session":
                    self._start_session(data)
                else:
                    self._send(404, {"error": "NOT_FOUND"})

            def _auth(self, data: Any) -> None:
                with api._lock:
                    api.auth_calls += 1
                if data.get("username") != api.username or data.get("password") != api.password:
                    self._send(401, {"error": "INVALID_CREDENTIALS"})
                    return
                token = secrets.token_urlsafe(16)
                with api._lock:
                    api._tokens.add(token)
                self._send(200, {"token": token, "expires_in": api.expires_in})

            def _start_session(self, data: Any) -> None:
                with api._lock:
                    api.session_calls += 1
                    auth = self.headers.get("Authorization", "")
                    valid = auth.startswith("Bearer ") and auth[7:] in api._tokens
                if not valid:
                    self._send(401, {"error": "UNAUTHORIZED"})
                    return
                if not isinstance(data.get("user_id"), str) or not isinstance(data.get("currency"), str):
                    self._send(400, {"error": "user_id and currency must be strings"})
                    return
                session = secrets.token_hex(8)
                with api._lock:
                    api.sessions.append({**data, "session": session})
                lang = data.get("lang") or "en"
                self._send(200, {"url": f"{api.base_url}/sportsbook?session={session}&lang={lang}"})

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                parsed = urlparse(self.path)
                if parsed.path != "/sportsbook":
                    self._send(404, {"error": "NOT_FOUND"})
                    return
                session = parse_qs(parsed.query).get("session", ["?"])[0]
                page = (
                    "<!doctype html><meta charset=utf-8><title>IGPX sportsbook (fake)</title>"
                    "<body style='font-family:sans-serif'><h1>IGPX sportsbook</h1>"
                    f"<p>Fake sportsbook session <code>{session[:32]}</code>. Bets placed here are simulated"
                    " by Touchline's IGPX simulator.</p>"
                )
                self._send(200, page.encode(), "text/html; charset=utf-8")

        return Handler


_shared: FakeIgpxApi | None = None
_shared_lock = threading.Lock()


def shared_fake_api(*, username: str, password: str) -> FakeIgpxApi:
    """One fake API per process, started on first use (session launches with no IGPX_API_URL)."""
    global _shared
    from wallet.igpx import conf

    with _shared_lock:
        if _shared is None:
            logger.warning("IGPX_API_URL is not set: session launches use a built-in fake IGPX API")
            _shared = FakeIgpxApi(username=username, password=password, version=conf.api_version()).start()
        return _shared


def iter_players(prefix: str, count: int, currency: str) -> Iterator[SimPlayer]:
    for n in range(1, count + 1):
        yield SimPlayer(f"{prefix}{n}", currency)
