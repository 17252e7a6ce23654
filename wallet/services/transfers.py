"""Deposits and withdrawals from the casino platform: their postings (`deposit_apply`,
`withdrawal_apply`, one ledger transaction each, in the caller's transaction) and the operator
API's transfer, idempotent by the caller's reference.

The caller is an operator API key: each transfer is capped by the key's per-currency limit and
audited with the key, in the transaction that moves the money."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from wallet import ledger, money
from wallet.errors import InsufficientFunds, PlayerBlocked, TransferLimitExceeded, WalletError
from wallet.ledger import REAL, Leg
from wallet.models import LedgerTransaction, Player
from wallet.selectors import WalletRef, wallet_get
from wallet.services.audit import audit_record
from wallet.services.idempotency import Outcome, Reply, RequestKey, execute_once

DEPOSIT = "deposit"
WITHDRAWAL = "withdrawal"


# --- The postings (one ledger transaction each; they run in the caller's transaction) -----------

Kind = LedgerTransaction.Kind


@dataclass(frozen=True)
class TransferResult:
    transaction_id: int
    player_external_id: str
    currency: str
    amount: Decimal
    balance: Decimal


def deposit_apply(*, wallet: WalletRef, amount: Decimal, reference: str, actor_id: int | None) -> TransferResult:
    if wallet.status != Player.Status.ACTIVE:
        raise PlayerBlocked(f"player {wallet.external_id} is {wallet.status}: deposits are refused")
    return _post(Kind.DEPOSIT, wallet, amount, amount, reference, actor_id)


def withdrawal_apply(*, wallet: WalletRef, amount: Decimal, reference: str, actor_id: int | None) -> TransferResult:
    # A self-excluded player must still be able to take their money out; a blocked one may not.
    if wallet.status == Player.Status.BLOCKED:
        raise PlayerBlocked(f"player {wallet.external_id} is blocked: withdrawals are refused")
    if wallet.balance < amount:
        raise InsufficientFunds(f"withdrawable balance {wallet.balance} is below {amount}")
    return _post(Kind.WITHDRAWAL, wallet, amount, -amount, reference, actor_id)


def _post(
    kind: str, wallet: WalletRef, amount: Decimal, moved: Decimal, reference: str, actor_id: int | None
) -> TransferResult:
    """`amount` moved onto the player's real balance (`moved` negative: off it), the other side
    on the house's cash: one ledger transaction."""
    posted = ledger.post(
        kind=kind,
        currency=wallet.currency,
        player_id=wallet.player_id,
        provider="operator",
        external_id=reference,
        created_by_id=actor_id,
        legs=[
            Leg(wallet.account_id, moved, REAL, tracked=True),
            Leg(ledger.cash_account_id(wallet.currency), -moved),
        ],
    )
    return TransferResult(
        posted.transaction_id, wallet.external_id, wallet.currency, amount, posted.balances[(wallet.account_id, REAL)]
    )


# --- The operator API's transfer, once per reference ------------------------------------------


class TransferCaller(Protocol):
    """What a transfer needs of its caller (apikeys.models.ApiKey)."""

    @property
    def audit_label(self) -> dict[str, str]: ...

    def transfer_limit(self, currency: str) -> Decimal | None: ...


class _Refused(Exception):
    """A refusal that must not be stored as the reference's answer: once the key's limit is
    raised, the same reference goes through."""

    def __init__(self, error: WalletError) -> None:
        self.error = error


def transfer_execute(
    *,
    direction: str,
    player_external_id: str,
    currency: str,
    amount: Decimal,
    reference: str,
    caller: TransferCaller,
    render: Callable[[TransferResult], tuple[int, str]],
    render_error: Callable[[WalletError], tuple[int, str]],
) -> Reply:
    """Apply a deposit or withdrawal once per reference. Deposits and withdrawals share one
    reference namespace, so reusing a deposit's reference for a withdrawal is a conflict.

    A repeat of an applied reference replays its answer even if the key's limit has since been
    lowered: the limit is checked only when the transfer is first applied."""
    apply_fn = {DEPOSIT: deposit_apply, WITHDRAWAL: withdrawal_apply}[direction]
    limit = caller.transfer_limit(currency)

    def apply() -> Outcome:
        if limit is None or amount > limit:
            allowed = "no transfers" if limit is None else f"at most {money.format_money(limit, currency)} per transfer"
            raise _Refused(TransferLimitExceeded(f"this API key may make {allowed} in {currency}"))
        wallet = wallet_get(external_id=player_external_id, currency=currency)
        result = apply_fn(wallet=wallet, amount=amount, reference=reference, actor_id=None)
        audit_record(
            actor_id=None,
            action=f"api.{direction}",
            object_type="wallet.LedgerTransaction",
            object_id=str(result.transaction_id),
            data={"reference": reference, "player": player_external_id, "currency": currency, "amount": amount},
            api_key=caller.audit_label,
        )
        status, body = render(result)
        return Outcome(status=status, body=body, transaction_id=result.transaction_id)

    try:
        return execute_once(
            key=RequestKey("operator", reference, "transfer"),
            content={"direction": direction, "player": player_external_id, "currency": currency, "amount": amount},
            apply=apply,
            render_error=render_error,
        )
    except _Refused as refused:
        status, body = render_error(refused.error)
        return Reply(status=status, body=body, outcome="refused")
