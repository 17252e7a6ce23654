"""Deposits and withdrawals from the casino platform, idempotent by the caller's reference."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from wallet.errors import WalletError
from wallet.selectors import wallet_get
from wallet.services.idempotency import Outcome, Reply, RequestKey, execute_once
from wallet.services.postings import TransferResult, deposit_apply, withdrawal_apply

DEPOSIT = "deposit"
WITHDRAWAL = "withdrawal"


def transfer_execute(
    *,
    direction: str,
    player_external_id: str,
    currency: str,
    amount: Decimal,
    reference: str,
    actor_id: int | None,
    render: Callable[[TransferResult], tuple[int, str]],
    render_error: Callable[[WalletError], tuple[int, str]],
) -> Reply:
    """Apply a deposit or withdrawal once per reference. Deposits and withdrawals share one
    reference namespace, so reusing a deposit's reference for a withdrawal is a conflict."""
    apply_fn = {DEPOSIT: deposit_apply, WITHDRAWAL: withdrawal_apply}[direction]

    def apply() -> Outcome:
        wallet = wallet_get(external_id=player_external_id, currency=currency)
        result = apply_fn(wallet=wallet, amount=amount, reference=reference, actor_id=actor_id)
        status, body = render(result)
        return Outcome(status=status, body=body, transaction_id=result.transaction_id)

    return execute_once(
        key=RequestKey("operator", reference, "transfer"),
        content={"direction": direction, "player": player_external_id, "currency": currency, "amount": amount},
        apply=apply,
        render_error=render_error,
    )
