"""What every Betsy callback answers with: the Answer, Betsy's code for a wallet refusal, the
success body. Shared by services.py (profile, balance, place, settle, check) and reversals.py
(unsettle, rollback)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from time import time_ns

from wallet import errors
from wallet.betsy.parsing import PLACE
from wallet.betsy.protocol import Code, format_time_ns, render_error, transaction_json
from wallet.services import idempotency

PROVIDER = "betsy"
logger = logging.getLogger("touchline.wallet.betsy")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    replayed: bool = False


# --- Error mapping ------------------------------------------------------------------------------


def code_for(error: errors.WalletError, operation: str = "") -> Code:
    """Betsy's code for a wallet refusal (§11). Order matters: subclasses first."""
    if isinstance(error, errors.AlreadyRolledBack):
        return Code.ALREADY_PROCESSED
    if isinstance(error, errors.IdempotencyConflict):
        return Code.ALREADY_PROCESSED if operation == PLACE else Code.VALIDATION
    if isinstance(error, errors.InsufficientFunds):
        return Code.NOT_ENOUGH_MONEY
    if isinstance(error, errors.PlayerSelfExcluded):  # time-outs too
        return Code.SELF_EXCLUDED
    if isinstance(error, errors.PlayerNotVerified):
        return Code.NOT_VERIFIED
    if isinstance(error, errors.PlayerUnderAge):
        return Code.UNDER_AGE
    if isinstance(error, (errors.StakeLimitExceeded, errors.WagerLimitExceeded)):
        return Code.STAKE_LIMIT  # a wager (turnover) limit is a limit on stakes over time
    if isinstance(error, errors.LossLimitExceeded):
        return Code.LOSS_LIMIT
    if isinstance(error, errors.BetCountLimitExceeded):
        return Code.BET_COUNT_LIMIT
    if isinstance(error, errors.PlayerBlocked):
        return Code.USER_BLOCKED
    if isinstance(error, errors.PlayerNotFound):
        return Code.INVALID_TOKEN
    if isinstance(
        error,
        (
            errors.InvalidRequest,
            errors.CurrencyMismatch,
            errors.BetStateError,
            errors.BetNotFound,
            errors.TransactionNotFound,
            errors.NotReversible,
        ),
    ):
        return Code.VALIDATION
    return Code.SYSTEM_ERROR


@functools.cache  # one per operation, not a new closure per callback (issue #18)
def error_renderer(operation: str) -> Callable[[errors.WalletError], tuple[int, str]]:
    def render(error: errors.WalletError) -> tuple[int, str]:
        return 400, render_error(code_for(error, operation), error.message).decode()

    return render


_new = object.__new__
_set_status, _set_body, _set_replayed = (getattr(Answer, name).__set__ for name in ("status", "body", "replayed"))


def answer(reply: idempotency.Reply) -> Answer:
    """`Answer(reply.status, reply.body.encode(), reply.replayed)`, its three slots set directly:
    the frozen dataclass's __init__ (an object.__setattr__ per field) costs twice as much, on
    every /payment/bet callback (issue #18)."""
    made = _new(Answer)
    _set_status(made, reply.status)
    _set_body(made, reply.body.encode())
    _set_replayed(made, reply.replayed)
    return made


def success(transaction_id: str) -> str:
    """The success body, timed now. In UTC whatever USE_TZ says: timezone.now() would read the
    setting on every callback, and datetime.now(UTC) costs more than the clock it reads
    (`format_time_ns`; issue #18)."""
    return transaction_json(transaction_id, format_time_ns(time_ns()))
