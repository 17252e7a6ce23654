"""IGPX test helpers: a provider that signs and posts callbacks through Django's test client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from wallet.igpx.protocol import sign
from wallet.models import (
    Bet,
    Debt,
    IdempotencyConflict,
    IdempotencyRecord,
    LedgerEntry,
    LedgerTransaction,
    Settlement,
)

SECRET = "igpx-test-secret"


@dataclass
class Answer:
    raw: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.raw)

    @property
    def error(self) -> str | None:
        return self.json["error"]

    @property
    def our_id(self) -> str | None:
        return self.json.get("transaction_id")


class Provider:
    """Plays the IGPX sportsbook: builds, signs and posts callbacks."""

    def __init__(self, client: Client, secret: str = SECRET) -> None:
        self.client = client
        self.secret = secret

    def post_raw(self, path: str, body: bytes, *, signature: str | None = "sign") -> Answer:
        headers = {}
        if signature == "sign":
            headers["HTTP_X_SECURITY_HASH"] = sign(body, self.secret)
        elif signature is not None:
            headers["HTTP_X_SECURITY_HASH"] = signature
        response = self.client.post(f"/api/igpx/{path}", body, content_type="application/json", **headers)
        return Answer(response.content, response.status_code)

    def post(self, path: str, payload: dict[str, Any], **kwargs: Any) -> Answer:
        return self.post_raw(path, json.dumps(payload).encode(), **kwargs)

    def bet(self, tid: str, amount: Any, user: str = "alice", currency: str = "EUR") -> Answer:
        return self.post(
            "transaction",
            {"transaction_id": tid, "action": "bet", "user_id": user, "currency": currency, "amount": amount},
        )

    def result(self, tid: str, amount: Any, user: str = "alice", currency: str = "EUR") -> Answer:
        return self.post(
            "transaction",
            {"transaction_id": tid, "action": "result", "user_id": user, "currency": currency, "amount": amount},
        )

    def rollback(self, tid: str, target: str, amount: Any, user: str = "alice", currency: str = "EUR") -> Answer:
        return self.post(
            "transaction-rollback",
            {
                "transaction_id": tid,
                "rollback_transaction_id": target,
                "action": "rollback",
                "user_id": user,
                "currency": currency,
                "amount": amount,
            },
        )


@pytest.fixture
def igpx_secret(settings):
    settings.IGPX_SECURITY_HASH = SECRET
    return SECRET


@pytest.fixture
def provider(igpx_secret) -> Provider:
    return Provider(Client())


MODELS = (IdempotencyRecord, IdempotencyConflict, LedgerTransaction, LedgerEntry, Bet, Settlement, Debt)


def snapshot() -> dict[str, Any]:
    """Row counts of everything a callback can write, plus every balance."""
    from wallet.models import Account

    counts: dict[str, Any] = {model.__name__: model.objects.count() for model in MODELS}
    counts["balances"] = sorted(
        (a.pk, Decimal(a.balance), Decimal(a.bonus_balance), Decimal(a.debt_balance))
        for a in Account.objects.filter(kind="player")
    )
    return counts
