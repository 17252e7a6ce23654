"""ProphetXSimulator: the fake ProphetX's settings and state, starting and stopping its REST and
WebSocket servers, and what a client needs to reach it."""

from __future__ import annotations

import asyncio
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import ServerConnection

from parlays.simulator.games import SimGame, SimPriceSource, make_games
from parlays.simulator.rest import RestApi, make_handler
from parlays.simulator.rfq import RfqFlow, SimAsk, SimOrder
from parlays.simulator.websocket import PusherServer


class ProphetXSimulator(RestApi, RfqFlow, PusherServer):
    """A fake ProphetX on localhost; what each part serves is in the package's docstring."""

    def __init__(
        self,
        *,
        games: list[SimGame] | None = None,
        access_key: str = "sim-access-key",
        secret_key: str = "sim-secret-key",
        app_key: str = "sim-pusher-key",
        app_secret: str = "sim-pusher-secret",
        user_id: str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        health_interval_s: float = 5.0,
        activity_timeout_s: int = 120,
        max_sessions: int = 20,
        access_ttl_s: int = 20 * 60,
        auto_finalize: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.games = games if games is not None else make_games()
        self.access_key, self.secret_key = access_key, secret_key
        self.app_key, self.app_secret = app_key, app_secret
        self.cluster = "sim1"
        self.private_channel = f"private-service=4-device_type=5-user={user_id.replace('-', '')}"
        self.broadcast_channel = "private-broadcast-service=4-device_type=5"
        self.health_interval_s = health_interval_s
        self.activity_timeout_s = activity_timeout_s
        self.max_sessions = max_sessions
        self.access_ttl_s = access_ttl_s
        self.auto_finalize = auto_finalize
        self.host = host
        self.lines = {o.line_id: (g, m, o) for g in self.games for m in g.markets for o in m.outcomes}
        # state
        self._lock = threading.RLock()
        self.tokens: dict[str, float] = {}  # access token -> expiry epoch
        self.refresh_tokens: dict[str, float] = {}
        self.logins = 0
        self.refreshes = 0
        self.registers: list[str] = []  # socket ids registered, in order
        self.supported_lines: set[str] = set()
        self.supported_calls: list[tuple[str, int]] = []
        self.asks: dict[str, SimAsk] = {}
        self.orders: dict[str, SimOrder] = {}
        self.health_paused = False
        self.answer_pings = True
        self.pongs_received = 0
        self.sockets: dict[str, ServerConnection] = {}
        self.subscriptions: dict[str, set[str]] = {}
        self.subscription_log: list[tuple[str, str]] = []
        self.offer_errors: list[str] = []
        self.confirm_errors: list[str] = []
        self.fail_confirm_callbacks = 0  # answer the next N confirm callbacks with HTTP 500
        # servers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws_server: Any = None
        self._http: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.rest_url = ""
        self.ws_url = ""

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> ProphetXSimulator:
        handler = make_handler(self)
        self._http = ThreadingHTTPServer((self.host, 0), handler)
        self._http.daemon_threads = True
        self.rest_url = f"http://{self.host}:{self._http.server_address[1]}"
        http_thread = threading.Thread(target=self._http.serve_forever, name="px-sim-rest", daemon=True)
        http_thread.start()
        ready = threading.Event()
        ws_thread = threading.Thread(target=self._run_ws, args=(ready,), name="px-sim-ws", daemon=True)
        ws_thread.start()
        ready.wait(10)
        self._threads = [http_thread, ws_thread]
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown_ws(), self._loop).result(10)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> ProphetXSimulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- configuration the client needs ----------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {
            "PROPHETX_API_URL": self.rest_url,
            "PROPHETX_ACCESS_KEY": self.access_key,
            "PROPHETX_SECRET_KEY": self.secret_key,
            "PROPHETX_WS_URL": self.ws_url,
        }

    def price_source(self) -> SimPriceSource:
        return SimPriceSource(self.games)

    def event_mappings(self) -> dict[int, str]:
        return {g.px_event_id: g.event_urn for g in self.games}
