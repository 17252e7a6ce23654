"""A Betsy sportsbook backend, for the demo, the tests and the benchmark.

It speaks the real wire format: JSON bodies with the fields of protocols/betsy.md, signed with
the detached JWS over the exact bytes sent, (method, type) as the operation. The transport is
pluggable: `http_transport` (httpx, against a running Touchline) or any callable that takes a
WireRequest (the tests use Django's test client).

`run_lifecycle` drives the full flow (profile, balance, place, retries, settle, resettle,
unsettle, rollback, rollback-before-bet, bad signature, not enough money, check) and checks the
balance Touchline reports after every step, like the walk-through in §12.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from wallet import money
from wallet.betsy import protocol

BASE_PATH = "/api/betsy"


@dataclass(frozen=True)
class WireRequest:
    method: str
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class WireReply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Any:
        return money.loads(self.body) if self.body else None

    @property
    def code(self) -> int | None:
        """Betsy's error code when the answer is an error, else None."""
        if self.status == 200:
            return None
        data = self.data
        return data.get("code") if isinstance(data, dict) else None


Transport = Callable[[WireRequest], WireReply]


def http_transport(base_url: str, client: Any = None, timeout: float = 5.0) -> Transport:
    """Send over HTTP with httpx (Betsy gives up after 5 s, so do we)."""
    import httpx

    session = client or httpx.Client(timeout=timeout)
    root = base_url.rstrip("/")

    def send(request: WireRequest) -> WireReply:
        response = session.request(request.method, root + request.path, content=request.body, headers=request.headers)
        return WireReply(response.status_code, response.content, dict(response.headers))

    return send


def selection(**overrides: Any) -> dict[str, Any]:
    """One metadata[] item as Betsy sends it."""
    item: dict[str, Any] = {
        "disciplineId": 1,
        "discipline": "Football",
        "tournamentId": 17,
        "tournament": "Premier League",
        "tournamentRegionCode": "GB",
        "eventId": 50601,
        "event": "Arsenal - Chelsea",
        "eventDate": "2026-05-01 18:30:00",
        "marketId": 1,
        "market": "1x2",
        "outcomeId": 1,
        "outcome": "Arsenal",
        "coefficient": Decimal("2.0"),
        "stage": 0,
    }
    item.update(overrides)
    return item


class Betsy:
    """Betsy's side of the integration: builds, signs and sends each callback."""

    def __init__(self, send: Transport, secret: str, *, sub_partner_id: str | None = None) -> None:
        self.send = send
        self.secret = secret
        self.sub_partner_id = sub_partner_id
        self.last: WireRequest | None = None

    # -- plumbing ------------------------------------------------------------------------

    def prepare(
        self, method: str, path: str, payload: dict[str, Any] | bytes, *, sign: bool = True, secret: str | None = None
    ) -> WireRequest:
        """Build and sign one request without sending it (the exact bytes are what is signed)."""
        body = payload if isinstance(payload, bytes) else protocol.dumps(payload)
        headers = {"content-type": "application/json"}
        if sign:
            headers[protocol.HEADER_NAME] = protocol.sign(body, secret or self.secret)
        return WireRequest(method, BASE_PATH + path, body, headers)

    def request(
        self, method: str, path: str, payload: dict[str, Any] | bytes, *, sign: bool = True, secret: str | None = None
    ) -> WireReply:
        """Send one request; `sign=False` omits the signature, `secret` signs with another key."""
        self.last = self.prepare(method, path, payload, sign=sign, secret=secret)
        return self.send(self.last)

    def retry(self) -> WireReply:
        """Send the last request again, byte for byte (a retry after a timeout)."""
        assert self.last is not None
        return self.send(self.last)

    # -- the callbacks -----------------------------------------------------------------

    def profile(self, token: str) -> WireReply:
        return self.request("POST", "/user/profile", {"token": token, "requestId": _rid()})

    def balance(self, user_id: str, currency: str, token: str) -> WireReply:
        return self.request(
            "POST",
            "/user/balance",
            {"userId": user_id, "currency": currency, "token": token, "requestId": _rid()},
        )

    def bet_body(
        self,
        *,
        type_: int,
        transaction_id: str,
        user_id: str,
        currency: str,
        amount: Decimal | int | str,
        token: str | None,
        coefficient: Decimal | int = Decimal("2.0"),
        bonus_amount: Decimal | None = None,
        metadata: list[dict[str, Any]] | None = None,
        ticket_type: str = "single",
        **extra: Any,
    ) -> dict[str, Any]:
        legs = metadata if metadata is not None else [selection(coefficient=coefficient)]
        body: dict[str, Any] = {
            "requestId": _rid(),
            "transactionId": transaction_id,
            "token": token,
            "userId": user_id,
            "currency": currency,
            "amount": Decimal(amount) if isinstance(amount, (int, str)) else amount,
            "type": type_,
            "info": " / ".join(f"{leg.get('event')}: {leg.get('outcome')}" for leg in legs),
            "coefficient": coefficient,
            "boosterCoefficient": 1,
            "ip": "203.0.113.7",
            "subPartnerId": self.sub_partner_id,
            "bonusId": None,
            "bonusTemplateId": None,
            "bonusAmount": bonus_amount,
            "gameType": "sportsbook",
            "ticketType": ticket_type,
            "metadata": legs,
        }
        body.update(extra)
        return body

    def place(self, transaction_id: str, user_id: str, currency: str, amount: Any, token: str, **kw: Any) -> WireReply:
        body = self.bet_body(
            type_=1, transaction_id=transaction_id, user_id=user_id, currency=currency, amount=amount, token=token, **kw
        )
        return self.request("POST", "/payment/bet", body)

    def settle(
        self,
        transaction_id: str,
        user_id: str,
        currency: str,
        amount: Any,
        result_type: str,
        token: str | None = None,
        **kw: Any,
    ) -> WireReply:
        body = self.bet_body(
            type_=2,
            transaction_id=transaction_id,
            user_id=user_id,
            currency=currency,
            amount=amount,
            token=token,
            resultType=result_type,
            **kw,
        )
        return self.request("PUT", "/payment/bet", body)

    def unsettle(self, transaction_id: str, user_id: str, currency: str, amount: Any, **kw: Any) -> WireReply:
        body = self.bet_body(
            type_=1, transaction_id=transaction_id, user_id=user_id, currency=currency, amount=amount, token=None, **kw
        )
        return self.request("PUT", "/payment/bet", body)

    def rollback(
        self, transaction_id: str, user_id: str, currency: str, amount: Any, error_code: int = 10, **kw: Any
    ) -> WireReply:
        body = self.bet_body(
            type_=3,
            transaction_id=transaction_id,
            user_id=user_id,
            currency=currency,
            amount=amount,
            token=None,
            errorCode=error_code,
            **kw,
        )
        return self.request("PUT", "/payment/bet", body)

    def check(self, user_id: str, transaction_id: str) -> WireReply:
        return self.request("POST", "/payment/check", {"userId": user_id, "transactionId": transaction_id})


def _rid() -> str:
    return str(uuid.uuid4())


def new_transaction_id() -> str:
    return str(uuid.uuid4())


# --- The casino side the simulator needs: a player, money and a session token ------------------


class Operator:
    """The operator API calls a casino platform makes before Betsy is opened (an API key)."""

    def __init__(self, base_url: str, api_key: str, client: Any = None) -> None:
        import httpx

        self.client = client or httpx.Client(timeout=10.0)
        self.root = base_url.rstrip("/") + "/api/operator"
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def _post(self, path: str, payload: dict[str, Any], ok: tuple[int, ...] = (200, 201)) -> dict[str, Any]:
        response = self.client.post(self.root + path, json=payload, headers=self.headers)
        if response.status_code not in ok:
            raise RuntimeError(f"operator API {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()

    def ensure_player(self, external_id: str, currency: str) -> None:
        response = self.client.get(f"{self.root}/players/{external_id}/", headers=self.headers)
        if response.status_code == 404:
            self._post("/players/", {"external_id": external_id, "currencies": [currency], "nickname": external_id})
        elif response.status_code != 200:
            raise RuntimeError(f"operator API: HTTP {response.status_code} {response.text[:300]}")

    def deposit(self, external_id: str, currency: str, amount: str) -> None:
        self._post(
            f"/players/{external_id}/deposits/",
            {"reference": f"sim-{uuid.uuid4()}", "currency": currency, "amount": amount},
        )

    def launch(self, external_id: str, currency: str) -> str:
        return self._post(f"/players/{external_id}/sessions/betsy/", {"currency": currency})["token"]


# --- The scripted lifecycle ----------------------------------------------------------------------


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


class LifecycleFailed(AssertionError):
    pass


def run_lifecycle(
    betsy: Betsy,
    *,
    user_id: str,
    currency: str,
    token: str,
    progress: Callable[[Step], None] = lambda step: None,
) -> list[Step]:
    """Drive every callback against a player holding exactly 20 in `currency` (the seed's $20),
    checking Touchline's answers and the balance it reports after each step. Raises
    LifecycleFailed on the first surprise; returns the steps otherwise."""
    steps: list[Step] = []

    def balance() -> Decimal:
        reply = betsy.balance(user_id, currency, token)
        if reply.status != 200:
            raise LifecycleFailed(f"balance: HTTP {reply.status} {reply.body!r}")
        return Decimal(reply.data["amount"])

    def expect(name: str, reply: WireReply, *, code: int | None = None, balance_now: str | None = None) -> None:
        problems = []
        if reply.code != code or (code is None and reply.status != 200):
            problems.append(
                f"expected {'success' if code is None else f'code {code}'}, got HTTP {reply.status} {reply.body[:200]!r}"
            )
        detail = f"HTTP {reply.status}" + (f" code {reply.code}" if reply.code else "")
        if balance_now is not None:
            seen = balance()
            detail += f", balance {seen}"
            if seen != Decimal(balance_now):
                problems.append(f"balance {seen}, expected {balance_now}")
        step = Step(name, not problems, "; ".join(problems) or detail)
        steps.append(step)
        progress(step)
        if problems:
            raise LifecycleFailed(f"{name}: {step.detail}")

    expect("profile (iframe opens)", betsy.profile(token))
    if Decimal(betsy.balance(user_id, currency, token).data["amount"]) != Decimal("20"):
        raise LifecycleFailed("the lifecycle needs a player holding exactly 20")
    expect("balance", betsy.balance(user_id, currency, token), balance_now="20")

    tx = new_transaction_id()
    expect("place 5 at 2.0", betsy.place(tx, user_id, currency, 5, token), balance_now="15")
    first = betsy.retry()
    expect("place retried (same bytes)", first, balance_now="15")
    expect("settle won 10", betsy.settle(tx, user_id, currency, 10, "won"), balance_now="25")
    expect("settle retried", betsy.retry(), balance_now="25")
    expect("resettle as refund 5", betsy.settle(tx, user_id, currency, 5, "refund"), balance_now="20")
    expect("resettle retried", betsy.retry(), balance_now="20")
    expect("unsettle", betsy.unsettle(tx, user_id, currency, 5), balance_now="15")
    expect("unsettle retried", betsy.retry(), balance_now="15")
    expect("check: bet open again", betsy.check(user_id, tx))
    expect("settle lost 0", betsy.settle(tx, user_id, currency, 0, "lost"), balance_now="15")

    tx2 = new_transaction_id()
    expect("place 4", betsy.place(tx2, user_id, currency, 4, token), balance_now="11")
    expect("rollback after the bet (odds changed)", betsy.rollback(tx2, user_id, currency, 4, 8), balance_now="15")
    expect("rollback retried", betsy.retry(), balance_now="15")

    tx3 = new_transaction_id()
    expect("rollback before the bet (timeout)", betsy.rollback(tx3, user_id, currency, 3, 10), balance_now="15")
    expect("late place after its rollback", betsy.place(tx3, user_id, currency, 3, token), code=8, balance_now="15")

    tx4 = new_transaction_id()
    expect("place 1000: not enough money", betsy.place(tx4, user_id, currency, 1000, token), code=7, balance_now="15")
    body = betsy.bet_body(
        type_=1, transaction_id=new_transaction_id(), user_id=user_id, currency=currency, amount=1, token=token
    )
    expect(
        "bad signature", betsy.request("POST", "/payment/bet", body, secret="not-the-secret"), code=1, balance_now="15"
    )
    return steps
