"""The simulator's REST endpoints: partner auth and tokens, the MM market data, the parlay SP
WebSocket registration, supported lines and orders, and our offer/confirm callbacks (checked as
ProphetX checks them, checks.py)."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from parlays.protocol import odds as am
from parlays.protocol import pusher
from parlays.protocol.jsonio import dumps, loads
from parlays.simulator.checks import confirm_error, offers_error
from parlays.simulator.games import SimGame
from parlays.simulator.rfq import SimOrder

if TYPE_CHECKING:
    from parlays.simulator.server import ProphetXSimulator

logger = logging.getLogger("touchline.parlays.simulator")

BROADCAST_EVENTS = ["price.ask.new", "order.matched"]
PRIVATE_EVENTS = [
    "price.confirm.new",
    "order.finalized",
    "order.settled",
    "parlay.settled",
    "health_check",
    "refund.processed",
]


class RestApi:
    """ProphetXSimulator's REST methods (its state is set up in server.py)."""

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
        error = offers_error(data, record)
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
        error = confirm_error(data, order, self.asks.get(order.parlay_id))
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


def make_handler(sim: ProphetXSimulator) -> type[BaseHTTPRequestHandler]:
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
