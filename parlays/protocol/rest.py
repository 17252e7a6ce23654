"""ProphetX REST client (partner auth, MM reference data, parlay SP endpoints).

Sessions are scarce: ProphetX refuses a login beyond about 20 live sessions per key
(`session_num_exceed`). So the client logs in once, refreshes the access token before it
expires, and never logs in again in a loop: a failed login starts a cooldown during which every
call fails fast with `LoginCooldown`, and a 401 leads to one refresh and one retry, no more.

URLs are built by concatenation (PX's example code uses `urljoin` on a path-less base and loses
segments). Callback URLs from events are used exactly as given.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from parlays.protocol import pusher
from parlays.protocol.errors import LoginCooldown, ProphetXAPIError, ProtocolError
from parlays.protocol.jsonio import dumps, loads
from parlays.protocol.messages import read_money, read_settlement_status

logger = logging.getLogger("touchline.parlays.rest")

SUPPORTED_LINES_BATCH = 1000  # PX answers 400 invalid_params beyond this [observed]
PAGE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PxOrder:
    """One row of /parlay/sp/orders, in the legacy vocabulary whatever PX sent."""

    order_uuid: str
    parlay_id: str
    status: str
    settlement_status: str
    confirmed_odds: int | None
    confirmed_stake: Decimal | None
    profit: Decimal | None
    legs: tuple[Any, ...]
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CallbackResult:
    status: int
    body: str
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _expiry_to_seconds(value: Any, now_epoch: float) -> float | None:
    """Seconds from now until an `*_expire_time` (epoch s / ms / ns, or a relative number of seconds)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    number = float(value)
    if number > 1e17:
        number /= 1e9
    elif number > 1e11:
        number /= 1e3
    if number > 1e9:  # an epoch
        return number - now_epoch
    return number


class ProphetXClient:
    def __init__(
        self,
        base_url: str,
        access_key: str,
        secret_key: str,
        *,
        timeout: float = 5.0,
        refresh_every_s: float = 480,
        login_cooldown_s: float = 600,
        vocabulary: str = "legacy",
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        epoch: Callable[[], float] = time.time,
    ) -> None:
        if not base_url:
            raise ValueError("PROPHETX_API_URL is not set")
        self.base_url = base_url.rstrip("/")
        self._access_key = access_key
        self._secret_key = secret_key
        self._refresh_every = refresh_every_s
        self._login_cooldown = login_cooldown_s
        self.vocabulary = vocabulary
        self._clock = clock
        self._epoch = epoch
        self._lock = threading.RLock()
        self._access_token = ""
        self._refresh_token = ""
        self._refresh_due = 0.0  # clock time at which we refresh
        self._access_expires = 0.0
        self._refresh_expires = float("inf")
        self._cooldown_until = 0.0
        self.logins = 0
        self.refreshes = 0
        if transport is None:
            # Headers and body leave as separate writes: without TCP_NODELAY, Nagle's algorithm
            # holds the body until the server's delayed ACK (up to 40 ms) on the hot path.
            transport = httpx.HTTPTransport(
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60),
            )
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60),
            headers={"Accept": "application/json", "User-Agent": "touchline-parlays/1.0"},
        )

    def close(self) -> None:
        self._http.close()

    # --- auth ----------------------------------------------------------------------------

    def _store_tokens(self, data: Mapping[str, Any]) -> None:
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise ProphetXAPIError("auth answer has no access_token", status=200, code="invalid_response")
        now = self._clock()
        self._access_token = token
        if isinstance(data.get("refresh_token"), str) and data["refresh_token"]:
            self._refresh_token = data["refresh_token"]
            ttl = _expiry_to_seconds(data.get("refresh_expire_time"), self._epoch())
            self._refresh_expires = now + ttl if ttl is not None else float("inf")
        ttl = _expiry_to_seconds(data.get("access_expire_time"), self._epoch())
        access_ttl = ttl if ttl is not None else 20 * 60  # PX documents 20 min
        self._access_expires = now + access_ttl
        # Refresh well before expiry: every `refresh_every` or at 3/4 of the lifetime, whichever first.
        self._refresh_due = now + max(1.0, min(self._refresh_every, access_ttl * 0.75))

    def login(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._cooldown_until:
                raise LoginCooldown(int(self._cooldown_until - now))
            self.logins += 1
            try:
                body = self._call(
                    "POST",
                    "/partner/auth/login",
                    json_body={"access_key": self._access_key, "secret_key": self._secret_key},
                    auth=False,
                )
            except ProphetXAPIError as exc:
                # One attempt per cooldown: a crash-looping caller must not burn the session quota.
                self._cooldown_until = now + (self._login_cooldown if exc.code == "session_num_exceed" else 30)
                logger.error(
                    "ProphetX login failed (%s); next attempt in %ss", exc.code, int(self._cooldown_until - now)
                )
                raise
            self._store_tokens(_data(body))
            self._cooldown_until = 0.0
            logger.info("ProphetX session started")

    def refresh(self) -> bool:
        """Swap the refresh token for a new access token. False when PX no longer accepts it."""
        with self._lock:
            if not self._refresh_token or self._clock() >= self._refresh_expires:
                return False
            try:
                body = self._call(
                    "POST", "/partner/auth/refresh", json_body={"refresh_token": self._refresh_token}, auth=False
                )
            except ProphetXAPIError as exc:
                if exc.is_network or exc.status >= 500 or exc.status == 429:
                    raise
                self._refresh_token = ""
                return False
            self.refreshes += 1
            self._store_tokens(_data(body))
            return True

    def token(self) -> str:
        """A valid access token, refreshing or (only when there is no other way) logging in."""
        with self._lock:
            now = self._clock()
            if self._access_token and now < self._refresh_due:
                return self._access_token
            if self._access_token or self._refresh_token:
                try:
                    if self.refresh():
                        return self._access_token
                except ProphetXAPIError:
                    # PX unreachable: keep the token we have while it is still valid.
                    if self._access_token and now < self._access_expires:
                        return self._access_token
                    raise
            self.login()
            return self._access_token

    def ensure_fresh(self) -> None:
        self.token()

    # --- transport -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        auth: bool = True,
        retry_401: bool = True,
    ) -> Any:
        headers = {}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        if self.vocabulary == "cftc":
            headers["X-CFTC-Terminology"] = "true"
        content = None
        if json_body is not None:
            content = dumps(json_body)
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                method, self._url(path), content=content, data=form, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ProphetXAPIError(f"{method} {path}: {exc}", status=0) from exc
        if response.status_code == 401 and auth and retry_401:
            with self._lock:
                self._refresh_due = 0.0  # force a refresh (not a login) on the next token()
            return self._call(method, path, json_body=json_body, form=form, params=params, auth=auth, retry_401=False)
        return _decode(method, path, response)

    # --- reference data ----------------------------------------------------------------------

    def get_balance(self) -> Decimal:
        data = _data(self._call("GET", "/partner/mm/get_balance"))
        return read_money(data.get("balance", 0), "balance", allow_zero=True, signed=True)

    def get_tournaments(self) -> list[dict]:
        return _list(_data(self._call("GET", "/partner/mm/get_tournaments")), "tournaments")

    def get_sport_events(self, tournament_id: int | str) -> list[dict]:
        body = self._call("GET", "/partner/mm/get_sport_events", params={"tournament_id": tournament_id})
        return _list(_data(body), "sport_events")

    def get_markets(self, event_id: int | str) -> list[dict]:
        return _list(_data(self._call("GET", "/partner/mm/get_markets", params={"event_id": event_id})), "markets")

    def get_multiple_markets(self, event_ids: Iterable[int]) -> dict[int, list[dict]]:
        ids = [int(e) for e in event_ids]
        result: dict[int, list[dict]] = {}
        for start in range(0, len(ids), 50):
            chunk = ids[start : start + 50]
            body = _data(
                self._call("GET", "/partner/mm/get_multiple_markets", params={"event_ids": ",".join(map(str, chunk))})
            )
            for key, markets in body.items():
                if str(key).isdigit() and isinstance(markets, list):
                    result[int(key)] = markets
                elif key == "markets" and isinstance(markets, Mapping):  # tolerate {"markets": {...}}
                    result.update({int(k): v for k, v in markets.items() if str(k).isdigit()})
        return result

    # --- WebSocket bootstrap ----------------------------------------------------------------

    def connection_config(self) -> pusher.ConnectionConfig:
        return pusher.parse_connection_config(self._call("GET", "/parlay/sp/websocket/connection-config"))

    def register_socket(self, socket_id: str) -> tuple[pusher.AuthorizedChannel, ...]:
        body = self._call("POST", "/parlay/sp/websocket/register", form={"socket_id": socket_id})
        try:
            return pusher.parse_register_response(body)
        except ProtocolError as exc:
            raise ProphetXAPIError(f"register answer unusable: {exc}", status=200, code="invalid_response") from None

    def channel_auth(self, socket_id: str, channel: str) -> str:
        """The fallback auth endpoint, one channel at a time."""
        body = self._call("POST", "/parlay/sp/websocket/auth", form={"socket_id": socket_id, "channel_name": channel})
        auth = body.get("auth") if isinstance(body, Mapping) else None
        if not isinstance(auth, str):
            auth = _data(body).get("auth")
        if not isinstance(auth, str) or not auth:
            raise ProphetXAPIError("auth answer has no auth", status=200, code="invalid_response")
        return auth

    # --- supported lines ---------------------------------------------------------------------

    def _lines_path(self) -> tuple[str, str]:
        if self.vocabulary == "cftc":
            return "/parlay/sp/v2/supported-strikes", "supported_strikes"
        return "/parlay/sp/supported-lines", "supported_lines"

    def add_supported_lines(self, line_ids: Iterable[str]) -> int:
        return self._supported_lines("POST", list(line_ids))

    def remove_supported_lines(self, line_ids: Iterable[str]) -> int:
        return self._supported_lines("DELETE", list(line_ids))

    def _supported_lines(self, method: str, ids: list[str]) -> int:
        path, key = self._lines_path()
        for start in range(0, len(ids), SUPPORTED_LINES_BATCH):
            self._call(method, path, json_body={key: ids[start : start + SUPPORTED_LINES_BATCH]})
        return len(ids)

    def list_supported_lines(self, *, max_pages: int = 1000) -> list[str]:
        path, key = self._lines_path()
        result: list[str] = []
        token = None
        for _ in range(max_pages):
            params: dict[str, Any] = {"limit": PAGE_LIMIT}
            if token:
                params["token"] = token
            data = _data(self._call("GET", path, params=params))
            page = data.get(key) or data.get("supported_lines") or []
            result.extend(str(item) for item in page)
            next_token = data.get("token")
            if not page or not next_token or next_token == token:
                break
            token = next_token
        return result

    # --- orders ------------------------------------------------------------------------------

    def list_orders(
        self,
        *,
        status: str = "",
        from_ns: int | None = None,
        to_ns: int | None = None,
        max_orders: int = 10_000,
    ) -> list[PxOrder]:
        path = "/parlay/sp/v2/orders/" if self.vocabulary == "cftc" else "/parlay/sp/orders/"
        orders: list[PxOrder] = []
        token = None
        while len(orders) < max_orders:
            params: dict[str, Any] = {"limit": PAGE_LIMIT}
            for name, value in (("status", status), ("from", from_ns), ("to", to_ns), ("token", token)):
                if value:
                    params[name] = value
            data = _data(self._call("GET", path, params=params))
            page = data.get("orders") or []
            for raw in page:
                orders.append(parse_order(raw))
            next_token = data.get("token")
            if not page or not next_token or next_token == token:
                break
            token = next_token
        return orders

    # --- callbacks (hot path: no retries, the auction does not wait) --------------------------

    def post_callback(self, url: str, body: bytes) -> CallbackResult:
        headers = {"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"}
        if self.vocabulary == "cftc":
            headers["X-CFTC-Terminology"] = "true"
        started = time.perf_counter()
        try:
            response = self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProphetXAPIError(f"POST {url}: {exc}", status=0) from exc
        return CallbackResult(response.status_code, response.text[:4000], (time.perf_counter() - started) * 1000)


def _decode(method: str, path: str, response: httpx.Response) -> Any:
    text = response.text
    try:
        body = loads(text) if text.strip() else {}
    except ValueError:
        body = None
    if response.status_code >= 400 or body is None:
        code = ""
        if isinstance(body, Mapping):
            code = str(body.get("error_code") or body.get("code") or body.get("error") or "")
            if not code and isinstance(body.get("data"), Mapping):
                code = str(body["data"].get("error_code") or "")
        if "session_num_exceed" in text:
            code = "session_num_exceed"
        raise ProphetXAPIError(
            f"{method} {path}: HTTP {response.status_code} {text[:200]}",
            status=response.status_code,
            code=code or ("invalid_response" if body is None else ""),
            body=text[:2000],
        )
    return body


def _data(body: Any) -> dict:
    if isinstance(body, Mapping) and isinstance(body.get("data"), Mapping):
        return dict(body["data"])
    if isinstance(body, Mapping):
        return dict(body)
    raise ProphetXAPIError("answer is not a JSON object", status=200, code="invalid_response")


def _list(data: Mapping[str, Any], key: str) -> list[dict]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProphetXAPIError(f"{key} is not a list", status=200, code="invalid_response")
    return [item for item in value if isinstance(item, Mapping)]


def parse_order(raw: Mapping[str, Any]) -> PxOrder:
    """An order row in either vocabulary; amounts as Decimal, odds as SP-side ints."""
    from parlays.protocol.messages import read_uuid
    from parlays.protocol.odds import check_american, normalise

    if not isinstance(raw, Mapping):
        raise ProphetXAPIError("order is not an object", status=200, code="invalid_response")
    try:
        odds = raw.get("confirmed_odds", raw.get("confirmed_price"))
        stake = raw.get("confirmed_stake", raw.get("confirmed_quantity"))
        profit = raw.get("profit")
        settlement = raw.get("settlement_status")
        return PxOrder(
            order_uuid=read_uuid(raw.get("order_uuid"), "order_uuid"),
            parlay_id=read_uuid(raw.get("parlay_id"), "parlay_id"),
            status=str(raw.get("status") or "").lower(),
            settlement_status=read_settlement_status(settlement) if settlement else "",
            confirmed_odds=None if odds is None else normalise(check_american(odds, field="confirmed_odds")),
            confirmed_stake=None if stake is None else read_money(stake, "confirmed_stake", allow_zero=True),
            profit=None if profit is None else read_money(profit, "profit", allow_zero=True, signed=True),
            legs=tuple(raw.get("legs") or ()),
            raw=raw,
        )
    except ProtocolError as exc:
        raise ProphetXAPIError(f"order row unusable: {exc}", status=200, code="invalid_response") from None
