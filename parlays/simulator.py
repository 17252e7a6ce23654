"""A fake ProphetX for tests, the demo and the benchmark: the partner/MM REST endpoints, the parlay SP
endpoints and offer/confirm callbacks, and a Pusher-protocol (7) WebSocket server, all on
localhost, speaking the wire format in docs/prophetx.md.

It also plays the UOF side for its own games (`price_source()`), so a listener can price the
RFQs it broadcasts. ProphetX-side checks are enforced the way the docs describe them: offers
must carry positive integer odds, valid_until at least 5 s ahead, one estimated price per leg
that reproduces the parlay price ("invalid estimated prices"); an accept must echo the odds and
carry probabilities whose product is the implied probability ("Invalid Probability").

Run it alone with `python manage.py prophetx_simulator`.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import math
import random
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from parlays.prices import MarketQuote
from parlays.protocol import odds as am
from parlays.protocol import pusher
from parlays.protocol.jsonio import dumps, loads

logger = logging.getLogger("touchline.parlays.simulator")

NS = 1_000_000_000
BROADCAST_EVENTS = ["price.ask.new", "order.matched"]
PRIVATE_EVENTS = [
    "price.confirm.new",
    "order.finalized",
    "order.settled",
    "parlay.settled",
    "health_check",
    "refund.processed",
]
TEAMS = [
    "Lakers", "Celtics", "Bulls", "Knicks", "Heat", "Suns", "Bucks", "Nuggets", "Warriors", "Spurs",
    "Rockets", "Hawks", "Nets", "Magic", "Kings", "Jazz", "Pistons", "Pacers", "Raptors", "Clippers",
    "Hornets", "Wizards", "Thunder", "Grizzlies",
]  # fmt: skip


def _line_id(*parts: Any) -> str:
    return hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()


@dataclass
class SimOutcome:
    outcome_id: int
    name: str
    odds: Decimal  # UOF decimal odds
    line: Decimal | None  # the line as ProphetX shows it for this selection
    line_id: str = ""


@dataclass
class SimMarket:
    market_id: int  # ProphetX and UOF share the id
    name: str
    type: str
    specifiers: str
    outcomes: list[SimOutcome]
    status: int = 1


@dataclass
class SimGame:
    px_event_id: int
    event_urn: str
    home: str
    away: str
    tournament_id: int
    scheduled: datetime
    markets: list[SimMarket] = field(default_factory=list)
    producer_id: int = 3
    producer_up: bool = True
    stale_by_s: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.away} at {self.home}"


def _two_way(p: float, vig: float = 0.045) -> tuple[Decimal, Decimal]:
    """Decimal odds for a two-way market at fair probability p with a proportional vig."""
    a = Decimal(1 / (p * (1 + vig))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    b = Decimal(1 / ((1 - p) * (1 + vig))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return a, b


def _bettor_stake(risk: Decimal, bettor_odds: int) -> Decimal:
    stake = Fraction(risk) / (am.to_decimal(bettor_odds) - 1)
    return (Decimal(stake.numerator) / Decimal(stake.denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def make_games(count: int = 12, *, seed: int = 7, tournament_id: int = 501) -> list[SimGame]:
    rng = random.Random(seed)
    games = []
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)
    teams = TEAMS[:]
    for index in range(count):
        home, away = teams[(2 * index) % len(teams)], teams[(2 * index + 1) % len(teams)]
        event_id = 30_000_000 + index
        urn = f"sr:match:{50_000_000 + index}"
        p_home = rng.uniform(0.3, 0.72)
        total = Decimal(rng.randrange(2050, 2450, 10)) / 10 + Decimal("0.5")
        hcp = Decimal(rng.randrange(1, 16)) + Decimal("0.5")
        home_odds, away_odds = _two_way(p_home)
        over, under = _two_way(rng.uniform(0.46, 0.54))
        hcp_home, hcp_away = _two_way(rng.uniform(0.47, 0.53))
        game = SimGame(event_id, urn, home, away, tournament_id, start + timedelta(minutes=30 * index))
        game.markets = [
            SimMarket(
                219,
                "Moneyline",
                "moneyline",
                "",
                [SimOutcome(4, home, home_odds, None), SimOutcome(5, away, away_odds, None)],
            ),
            SimMarket(
                225,
                "Total Points",
                "total",
                f"total={total}",
                [SimOutcome(12, f"Over {total}", over, total), SimOutcome(13, f"Under {total}", under, total)],
            ),
            SimMarket(
                223,
                "Spread",
                "spread",
                f"hcp={-hcp}",
                [SimOutcome(1714, f"{home} -{hcp}", hcp_home, -hcp), SimOutcome(1715, f"{away} +{hcp}", hcp_away, hcp)],
            ),
        ]
        for market in game.markets:
            for outcome in market.outcomes:
                outcome.line_id = _line_id(event_id, market.market_id, outcome.outcome_id, outcome.line)
        games.append(game)
    return games


class SimPriceSource:
    """The simulator's games as the UOF feed state (feeds.selectors.market_quote's shape)."""

    def __init__(self, games: Iterable[SimGame]) -> None:
        self._markets = {(g.event_urn, m.market_id, m.specifiers): (g, m) for g in games for m in g.markets}

    def market_quote(self, *, event_urn: str, market_id: int, specifiers: str = "") -> MarketQuote | None:
        found = self._markets.get((event_urn, market_id, specifiers))
        if found is None:
            return None
        game, market = found
        return MarketQuote(
            event_urn=event_urn,
            market_id=market_id,
            specifiers=specifiers,
            status=market.status,
            producer_id=game.producer_id,
            producer_up=game.producer_up,
            odds_updated_at=datetime.now(UTC) - timedelta(seconds=1 + game.stale_by_s),
            outcomes={str(o.outcome_id): o.odds for o in market.outcomes},
        )


@dataclass
class SimAsk:
    parlay_id: str
    legs: list[tuple[SimGame, SimMarket, SimOutcome]]
    stake: Decimal
    sent_ns: int
    offers: list[dict] = field(default_factory=list)
    offer_received_ns: int | None = None
    offer_error: str = ""
    event: threading.Event = field(default_factory=threading.Event)


@dataclass
class SimOrder:
    order_uuid: str
    parlay_id: str
    sp_odds: int
    stake: Decimal  # SP risk requested
    status: str = "pending"  # pending / accepted / rejected / finalized / settled
    answer: dict | None = None
    confirmed_stake: Decimal | None = None
    settlement_status: str = ""
    profit: Decimal | None = None
    event: threading.Event = field(default_factory=threading.Event)


class ProphetXSimulator:
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
        handler = _make_handler(self)
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

    def _run_ws(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._ws_server = await serve(
                self._ws_handler, self.host, 0, ping_interval=None, compression=None, max_size=2**20
            )
            port = self._ws_server.sockets[0].getsockname()[1]
            self.ws_url = f"ws://{self.host}:{port}"
            self._health_task = asyncio.create_task(self._health_loop())
            ready.set()
            await self._ws_server.wait_closed()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    async def _shutdown_ws(self) -> None:
        self._health_task.cancel()
        self._ws_server.close()
        for ws in list(self.sockets.values()):
            await ws.close()

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

    # --- WebSocket (Pusher protocol 7) -------------------------------------------------------------

    async def _ws_handler(self, ws: ServerConnection) -> None:
        path = urlparse(ws.request.path)
        if path.path != f"/app/{self.app_key}":
            await ws.send(pusher.encode(pusher.ERROR, {"code": 4001, "message": "App key not in this cluster"}))
            await ws.close(4001)
            return
        socket_id = f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**9)}"
        with self._lock:
            self.sockets[socket_id] = ws
            self.subscriptions[socket_id] = set()
        await ws.send(
            pusher.encode(
                pusher.CONNECTION_ESTABLISHED,
                json.dumps({"socket_id": socket_id, "activity_timeout": self.activity_timeout_s}),
            )
        )
        try:
            async for raw in ws:
                try:
                    frame = pusher.parse_frame(raw)
                except Exception:
                    await ws.send(pusher.encode(pusher.ERROR, {"code": 4200, "message": "bad frame"}))
                    continue
                if frame.event == pusher.PING:
                    if self.answer_pings:
                        await ws.send(pusher.PONG_FRAME)
                elif frame.event == pusher.PONG:
                    self.pongs_received += 1
                elif frame.event == pusher.SUBSCRIBE:
                    data = frame.decoded() if not isinstance(frame.data, dict) else frame.data
                    channel, auth = str(data.get("channel", "")), str(data.get("auth", ""))
                    if channel in (self.broadcast_channel, self.private_channel) and pusher.verify_channel_auth(
                        self.app_key, self.app_secret, socket_id, channel, auth
                    ):
                        with self._lock:
                            self.subscriptions[socket_id].add(channel)
                            self.subscription_log.append((socket_id, channel))
                        await ws.send(pusher.encode(pusher.SUBSCRIPTION_SUCCEEDED, "{}", channel))
                    else:
                        await ws.send(
                            pusher.encode(
                                pusher.SUBSCRIPTION_ERROR,
                                {"type": "AuthError", "error": "Invalid signature", "status": 401},
                                channel,
                            )
                        )
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self.sockets.pop(socket_id, None)
                self.subscriptions.pop(socket_id, None)

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)
            if not self.health_paused:
                await self._publish(self.private_channel, "health_check", {"status": "ok"})

    async def _publish(self, channel: str, event: str, payload: dict, timestamp_ns: int | None = None) -> int:
        data = dumps({"payload": payload, "timestamp": timestamp_ns or time.time_ns()}).decode()
        frame = pusher.encode(event, data, channel)
        sent = 0
        with self._lock:
            targets = [
                self.sockets[s] for s, chans in self.subscriptions.items() if channel in chans and s in self.sockets
            ]
        for ws in targets:
            try:
                await ws.send(frame)
                sent += 1
            except ConnectionClosed:
                pass
        return sent

    def publish(self, channel: str, event: str, payload: dict, timestamp_ns: int | None = None) -> int:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(
            self._publish(channel, event, payload, timestamp_ns), self._loop
        ).result(5)

    def send_raw(self, text: str) -> None:
        """Send any text to every connected socket (tests of malformed frames)."""

        async def send() -> None:
            for ws in list(self.sockets.values()):
                await ws.send(text)

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(send(), self._loop).result(5)

    def drop_connections(self) -> None:
        async def close() -> None:
            for ws in list(self.sockets.values()):
                await ws.close(1001)

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)

    def subscribed_sockets(self) -> int:
        with self._lock:
            return sum(1 for chans in self.subscriptions.values() if len(chans) == 2)

    # --- RFQ flow ----------------------------------------------------------------------------------

    def pick_legs(self, count: int, rng: random.Random | None = None, *, same_game: bool = False) -> list[str]:
        rng = rng or random.Random()
        if same_game:
            game = rng.choice(self.games)
            markets = rng.sample(game.markets, min(count, len(game.markets)))
            return [rng.choice(m.outcomes).line_id for m in markets]
        games = rng.sample(self.games, min(count, len(self.games)))
        return [rng.choice(rng.choice(g.markets).outcomes).line_id for g in games]

    def ask(
        self, line_ids: list[str], stake: Decimal | str = "10", *, parlay_id: str | None = None, duplicate: bool = False
    ) -> str:
        parlay_id = parlay_id or str(uuid.uuid4())
        legs = [self.lines[line_id] for line_id in line_ids]
        now = time.time_ns()
        record = SimAsk(parlay_id, legs, Decimal(stake), time.perf_counter_ns())
        with self._lock:
            self.asks[parlay_id] = record
        payload = {
            "parlay_id": parlay_id,
            "stake": Decimal(stake),
            "callback_url": f"{self.rest_url}/parlay/sp/order/offers",
            "created_at": now,
            "market_lines": [
                {
                    **({"line": o.line} if o.line is not None else {}),
                    "line_id": o.line_id,
                    "market_id": m.market_id,
                    "outcome_id": o.outcome_id,
                    "sport_event_id": g.px_event_id,
                }
                for g, m, o in legs
            ],
        }
        self.publish(self.broadcast_channel, "price.ask.new", payload, now)
        if duplicate:
            self.publish(self.broadcast_channel, "price.ask.new", payload, now)
        return parlay_id

    def wait_offers(self, parlay_id: str, timeout: float = 5.0) -> list[dict]:
        record = self.asks[parlay_id]
        record.event.wait(timeout)
        return record.offers

    def confirm(
        self, parlay_id: str, *, offer_index: int = 0, stake: Decimal | str | None = None, odds: int | None = None
    ) -> str:
        """The bettor accepts: price.confirm.new on the private channel (SP-side odds, SP risk)."""
        record = self.asks[parlay_id]
        offer = record.offers[offer_index] if record.offers else {"odds": odds or 500, "max_risk": Decimal("100")}
        bettor_odds = odds if odds is not None else offer["odds"]
        risk = Decimal(stake) if stake is not None else Decimal(str(offer["max_risk"]))
        order_uuid = str(uuid.uuid4())
        order = SimOrder(order_uuid, parlay_id, am.bettor_to_sp(bettor_odds), risk)
        with self._lock:
            self.orders[order_uuid] = order
        self.publish(
            self.private_channel,
            "price.confirm.new",
            {
                "parlay_id": parlay_id,
                "order_uuid": order_uuid,
                "callback_url": f"{self.rest_url}/parlay/sp/order/confirm",
                "odds": order.sp_odds,
                "stake": risk,
            },
        )
        return order_uuid

    def wait_confirmation(self, order_uuid: str, timeout: float = 5.0) -> SimOrder:
        order = self.orders[order_uuid]
        order.event.wait(timeout)
        return order

    def finalize(self, order_uuid: str) -> None:
        order = self.orders[order_uuid]
        stake = order.confirmed_stake if order.confirmed_stake is not None else order.stake
        order.status = "finalized"
        now = time.time_ns()
        self.publish(
            self.private_channel,
            "order.finalized",
            {
                "confirmed_odds": order.sp_odds,
                "confirmed_stake": stake,
                "odds": order.sp_odds,
                "order_uuid": order_uuid,
                "parlay_id": order.parlay_id,
                "status": "finalized",
                "updated_at": now,
            },
        )
        record = self.asks.get(order.parlay_id)
        bettor_stake = _bettor_stake(stake, am.sp_to_bettor(order.sp_odds))
        self.publish(
            self.broadcast_channel,
            "order.matched",
            {
                "market_lines": [
                    {
                        "line_id": o.line_id,
                        "market_id": m.market_id,
                        "outcome_id": o.outcome_id,
                        "sport_event_id": g.px_event_id,
                    }
                    for g, m, o in (record.legs if record else [])
                ],
                "matched_at": now,
                "matched_odds": order.sp_odds,  # production sends the SP-side sign
                "matched_stake": bettor_stake,
                "parlay_id": order.parlay_id,
                "timestamp": now,
            },
        )

    def settle(self, order_uuid: str, result: str) -> None:
        """Settle from the SP's side: 'won' (we keep the bettor's stake), 'lost' (we pay our risk), 'void'."""
        order = self.orders[order_uuid]
        risk = order.confirmed_stake if order.confirmed_stake is not None else order.stake
        bettor_stake = _bettor_stake(risk, am.sp_to_bettor(order.sp_odds))
        profit = {"won": bettor_stake, "lost": -risk, "void": Decimal("0"), "push": Decimal("0")}[result]
        order.status, order.settlement_status, order.profit = "settled", result, profit
        now = time.time_ns()
        self.publish(
            self.private_channel,
            "order.settled",
            {
                "order_uuid": order_uuid,
                "parlay_id": order.parlay_id,
                "settlement_status": result,
                "settled_at": now,
                "profit": profit,
            },
        )
        self.publish(
            self.private_channel,
            "parlay.settled",
            {"parlay_id": order.parlay_id, "settlement_status": result, "settled_at": now, "profit": profit},
        )

    def run_traffic(
        self,
        *,
        rate_per_s: float,
        duration_s: float,
        legs: tuple[int, int] = (2, 12),
        confirm_every: int = 0,
        seed: int = 1,
        stop: threading.Event | None = None,
    ) -> list[str]:
        """Broadcast RFQs at a steady rate; confirm every Nth quoted one (0: none)."""
        rng = random.Random(seed)
        interval = 1.0 / rate_per_s
        start = time.monotonic()
        sent: list[str] = []
        for n in itertools.count():
            target = start + n * interval
            if target - start >= duration_s or (stop is not None and stop.is_set()):
                break
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            count = rng.randint(legs[0], min(legs[1], len(self.games)))
            sent.append(self.ask(self.pick_legs(count, rng), stake=Decimal(rng.choice(["5", "10", "25", "3.49"]))))
            if confirm_every and n % confirm_every == confirm_every - 1:
                parlay = sent[-1]
                threading.Thread(target=self._confirm_later, args=(parlay,), daemon=True).start()
        return sent

    def _confirm_later(self, parlay_id: str) -> None:
        offers = self.wait_offers(parlay_id, 3)
        if offers:
            stake = min(Decimal(str(offers[0]["max_risk"])), Decimal("50"))
            self.confirm(parlay_id, stake=stake)

    # --- REST handlers ------------------------------------------------------------------------------

    def _token_ok(self, header: str) -> bool:
        if not header.startswith("Bearer "):
            return False
        with self._lock:
            expiry = self.tokens.get(header[7:])
        return expiry is not None and expiry > time.time()

    def _issue_tokens(self) -> dict:
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        now = time.time()
        with self._lock:
            self.tokens[access] = now + self.access_ttl_s
            self.refresh_tokens[refresh] = now + 3 * 86400
        return {
            "access_token": access,
            "refresh_token": refresh,
            "access_expire_time": int(now + self.access_ttl_s),
            "refresh_expire_time": int(now + 3 * 86400),
        }

    def handle_rest(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[int, Any]:
        if path == "/partner/auth/login" and method == "POST":
            data = loads(body or b"{}")
            if data.get("access_key") != self.access_key or data.get("secret_key") != self.secret_key:
                return 401, {"error_code": "unauthorized", "message": "bad keys"}
            with self._lock:
                if self.logins >= self.max_sessions:
                    return 400, {"error_code": "session_num_exceed", "message": "too many sessions"}
                self.logins += 1
            return 200, {"data": self._issue_tokens()}
        if path == "/partner/auth/refresh" and method == "POST":
            token = loads(body or b"{}").get("refresh_token")
            with self._lock:
                valid = self.refresh_tokens.get(token, 0) > time.time()
                if valid:
                    self.refreshes += 1
            if not valid:
                return 401, {"error_code": "unauthorized"}
            tokens = self._issue_tokens()
            return 200, {
                "data": {"access_token": tokens["access_token"], "access_expire_time": tokens["access_expire_time"]}
            }
        if not self._token_ok(headers.get("authorization", "")):
            return 401, {"error_code": "unauthorized", "message": "invalid token"}
        route = (method, path.rstrip("/"))
        if route == ("GET", "/partner/mm/get_balance"):
            return 200, {"data": {"balance": Decimal("10000.00")}}
        if route == ("GET", "/partner/mm/get_tournaments"):
            ids = sorted({g.tournament_id for g in self.games})
            return 200, {
                "data": {
                    "tournaments": [{"id": t, "name": f"Sim League {t}", "sport": {"name": "Basketball"}} for t in ids]
                }
            }
        if route == ("GET", "/partner/mm/get_sport_events"):
            tournament = int(query.get("tournament_id", ["0"])[0] or 0)
            return 200, {
                "data": {"sport_events": [self._event_json(g) for g in self.games if g.tournament_id == tournament]}
            }
        if route == ("GET", "/partner/mm/get_markets"):
            event_id = int(query.get("event_id", ["0"])[0] or 0)
            game = next((g for g in self.games if g.px_event_id == event_id), None)
            if game is None:
                return 404, {"error_code": "data_not_found"}
            return 200, {"data": {"markets": self._markets_json(game)}}
        if route == ("GET", "/partner/mm/get_multiple_markets"):
            ids = {int(x) for x in query.get("event_ids", [""])[0].split(",") if x.strip().isdigit()}
            return 200, {
                "data": {str(g.px_event_id): self._markets_json(g) for g in self.games if g.px_event_id in ids}
            }
        if route == ("GET", "/parlay/sp/websocket/connection-config"):
            return 200, {"key": self.app_key, "cluster": self.cluster, "app_id": "sim-app"}
        if route == ("POST", "/parlay/sp/websocket/register"):
            socket_id = parse_qs(body.decode()).get("socket_id", [""])[0]
            with self._lock:
                known = socket_id in self.sockets
                if known:
                    self.registers.append(socket_id)
            if not known:
                return 400, {"error_code": "invalid_request", "message": "unknown socket_id"}
            channels = [
                (self.broadcast_channel, BROADCAST_EVENTS),
                (self.private_channel, PRIVATE_EVENTS),
            ]
            return 200, {
                "data": {
                    "success": True,
                    "status": "CONNECTED",
                    "authorized_channel": [
                        {
                            "channel_name": name,
                            "auth": pusher.channel_signature(self.app_key, self.app_secret, socket_id, name),
                            "binding_events": events,
                        }
                        for name, events in channels
                    ],
                }
            }
        if route == ("POST", "/parlay/sp/websocket/auth"):
            form = parse_qs(body.decode())
            socket_id, channel = form.get("socket_id", [""])[0], form.get("channel_name", [""])[0]
            return 200, {"auth": pusher.channel_signature(self.app_key, self.app_secret, socket_id, channel)}
        if path.rstrip("/") == "/parlay/sp/supported-lines":
            return self._supported_lines(method, query, body)
        if route == ("GET", "/parlay/sp/orders"):
            return 200, {
                "data": {
                    "orders": [
                        self._order_json(o) for o in self.orders.values() if o.status in ("finalized", "settled")
                    ]
                }
            }
        if route == ("POST", "/parlay/sp/order/offers"):
            return self._offers(body)
        if route == ("POST", "/parlay/sp/order/confirm"):
            return self._confirm_callback(body)
        return 404, {"error_code": "data_not_found", "message": f"no route {method} {path}"}

    def _event_json(self, game: SimGame) -> dict:
        return {
            "event_id": game.px_event_id,
            "name": game.name,
            "scheduled": game.scheduled.isoformat().replace("+00:00", "Z"),
            "status": "not_started",
            "competitors": [{"name": game.home, "side": "home"}, {"name": game.away, "side": "away"}],
            "sport_name": "Basketball",
        }

    def _markets_json(self, game: SimGame) -> list[dict]:
        result = []
        for market in game.markets:
            selections = [
                [
                    {
                        "line_id": o.line_id,
                        "outcome_id": o.outcome_id,
                        "name": o.name,
                        "odds": am.from_decimal(o.odds, round_for_house=False),
                        **({"line": o.line} if o.line is not None else {}),
                    }
                ]
                for o in market.outcomes
            ]
            if market.type == "moneyline":
                result.append(
                    {"id": market.market_id, "name": market.name, "type": market.type, "selections": selections}
                )
            else:
                result.append(
                    {
                        "id": market.market_id,
                        "name": market.name,
                        "type": market.type,
                        "market_lines": [{"line": abs(market.outcomes[0].line or 0), "selections": selections}],
                    }
                )
        return result

    def _supported_lines(self, method: str, query: dict, body: bytes) -> tuple[int, Any]:
        if method == "GET":
            ordered = sorted(self.supported_lines)
            start = int(query.get("token", ["0"])[0] or 0)
            limit = min(100, int(query.get("limit", ["100"])[0] or 100))
            page = ordered[start : start + limit]
            next_token = str(start + limit) if start + limit < len(ordered) else ""
            return 200, {"data": {"supported_lines": page, "token": next_token}}
        ids = loads(body or b"{}").get("supported_lines")
        if not isinstance(ids, list) or len(ids) > 1000:
            return 400, {
                "error_code": "invalid_params",
                "message": "supported_lines must be a list of at most 1000 ids",
            }
        with self._lock:
            self.supported_calls.append((method, len(ids)))
            if method == "POST":
                self.supported_lines.update(ids)
            elif method == "DELETE":
                self.supported_lines.difference_update(ids)
        return 200, {"data": {"success": True}}

    def _order_json(self, order: SimOrder) -> dict:
        return {
            "order_uuid": order.order_uuid,
            "parlay_id": order.parlay_id,
            "status": order.status,
            "settlement_status": order.settlement_status or None,
            "confirmed_odds": order.sp_odds,
            "confirmed_stake": order.confirmed_stake if order.confirmed_stake is not None else order.stake,
            "profit": order.profit,
            "legs": [],
        }

    def _offers(self, body: bytes) -> tuple[int, Any]:
        received = time.perf_counter_ns()
        try:
            data = loads(body)
        except ValueError:
            return 400, {"error_code": "invalid_request", "message": "body is not JSON"}
        record = self.asks.get(data.get("parlay_id", "") if isinstance(data, dict) else "")
        error = self._validate_offers(data, record)
        if record is not None:
            record.offer_received_ns = received
            record.offer_error = error
            if not error:
                record.offers = data["offers"]
            record.event.set()
        if error:
            self.offer_errors.append(error)
            return 400, {"error_code": "invalid_request", "message": error}
        return 200, {"data": {"success": True}}

    def _validate_offers(self, data: Any, record: SimAsk | None) -> str:
        if record is None:
            return "invalid parlay_id"
        offers = data.get("offers")
        if not isinstance(offers, list) or not offers:
            return "offers must be a non-empty list"
        legs = {o.line_id for _, _, o in record.legs}
        now = time.time_ns()
        for offer in offers:
            odds = offer.get("odds")
            if isinstance(odds, bool) or not isinstance(odds, int) or odds < 100:
                return "invalid odds"
            risk = offer.get("max_risk")
            if isinstance(risk, bool) or not isinstance(risk, (int, Decimal)) or risk <= 0:
                return "invalid max_risk"
            valid_until = offer.get("valid_until")
            if not isinstance(valid_until, int) or valid_until < now + 5 * NS:
                return "invalid valid_until"
            prices = offer.get("estimated_price")
            if not isinstance(prices, list) or {p.get("line_id") for p in prices} != legs or len(prices) != len(legs):
                return "invalid estimated prices"
            try:
                leg_odds = [am.check_american(p.get("odds")) for p in prices]
            except Exception:
                return "invalid estimated prices"
            if am.parlay_american(leg_odds) != odds:
                return "invalid estimated prices"
        return ""

    def _confirm_callback(self, body: bytes) -> tuple[int, Any]:
        try:
            data = loads(body)
        except ValueError:
            return 400, {"error_code": "invalid_request", "message": "body is not JSON"}
        order = self.orders.get(data.get("order_uuid", "") if isinstance(data, dict) else "")
        if order is None:
            return 400, {"error_code": "invalid_request", "message": "invalid order_uuid"}
        with self._lock:
            if self.fail_confirm_callbacks > 0:
                self.fail_confirm_callbacks -= 1
                order.answer = data
                order.status = "accepted" if data.get("action") == "accept" else "rejected"
                order.event.set()
                return 500, {"error_code": "internal_error"}
        error = self._validate_confirm(data, order)
        order.answer = data
        if error:
            self.confirm_errors.append(error)
            order.status = "invalid"
            order.event.set()
            return 400, {"error_code": "invalid_request", "message": error}
        order.status = "accepted" if data["action"] == "accept" else "rejected"
        if data.get("confirmed_stake") is not None:
            order.confirmed_stake = Decimal(str(data["confirmed_stake"]))
        order.event.set()
        if order.status == "accepted" and self.auto_finalize:
            threading.Thread(target=self._finalize_soon, args=(order.order_uuid,), daemon=True).start()
        return 200, {"data": {"success": True}}

    def _finalize_soon(self, order_uuid: str) -> None:
        time.sleep(0.05)
        if not self._stopping.is_set():
            self.finalize(order_uuid)

    def _validate_confirm(self, data: dict, order: SimOrder) -> str:
        action = data.get("action")
        if action not in ("accept", "reject"):
            return "invalid action"
        if action == "reject":
            return ""
        if data.get("confirmed_odds") != order.sp_odds:
            return "invalid confirmed odds"
        stake = data.get("confirmed_stake")
        if stake is not None and (not isinstance(stake, (int, Decimal)) or stake <= 0 or stake > order.stake):
            return "invalid confirmed stake"
        record = self.asks.get(order.parlay_id)
        legs = {o.line_id for _, _, o in record.legs} if record else set()
        target = am.implied_probability(am.sp_to_bettor(order.sp_odds))
        entries = data.get("price_probability")
        if not isinstance(entries, list) or not entries:
            return "Invalid Probability"
        for entry in entries:
            lines = entry.get("lines") if isinstance(entry, dict) else None
            if not isinstance(lines, list) or {x.get("line_id") for x in lines} != legs:
                return "Invalid Probability"
            product = math.prod(Fraction(str(x.get("probability"))) for x in lines)
            if abs(product - target) > Fraction(1, 10**6):
                return "Invalid Probability"
        return ""


def _make_handler(sim: ProphetXSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real API gateway

        def setup(self) -> None:
            super().setup()
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self, method: str) -> None:
            parsed = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, answer = sim.handle_rest(method, parsed.path, parse_qs(parsed.query), headers, body)
            except Exception as exc:  # the simulator must answer, like a real gateway
                logger.exception("simulator error")
                status, answer = 500, {"error_code": "internal_error", "message": str(exc)}
            payload = dumps(answer)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._serve("DELETE")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug("sim %s", format % args)

    return Handler
