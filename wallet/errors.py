"""Domain errors of the wallet. Protocol layers map each to their provider's error format."""

from __future__ import annotations


class WalletError(Exception):
    """Base for refusals the wallet makes on purpose (not bugs)."""

    code = "wallet_error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code)
        self.message = message or self.code


class InvalidRequest(WalletError):
    code = "invalid_request"


class InvalidAmount(InvalidRequest):
    code = "invalid_amount"


class UnknownCurrency(InvalidRequest):
    code = "unknown_currency"


class PlayerExists(InvalidRequest):
    """A player with that external id exists already (HTTP 409 on the operator API)."""

    code = "player_exists"


class PlayerNotFound(WalletError):
    code = "player_not_found"


class CurrencyMismatch(WalletError):
    """The player has no wallet in that currency."""

    code = "currency_mismatch"


class PlayerBlocked(WalletError):
    code = "player_blocked"


class PlayerSelfExcluded(PlayerBlocked):
    code = "player_self_excluded"


class PlayerTimedOut(PlayerSelfExcluded):
    """A time-out (cool-off): a short self-exclusion, answered with the same provider codes."""

    code = "player_timed_out"


class PlayerNotVerified(PlayerBlocked):
    code = "player_not_verified"


class PlayerUnderAge(PlayerBlocked):
    code = "player_under_age"


class LimitExceeded(WalletError):
    """A bet that would pass one of the player's spending limits (docs/PROTECTION.md)."""

    code = "limit_exceeded"


class StakeLimitExceeded(LimitExceeded):
    code = "stake_limit_exceeded"


class WagerLimitExceeded(LimitExceeded):
    code = "wager_limit_exceeded"


class LossLimitExceeded(LimitExceeded):
    code = "loss_limit_exceeded"


class BetCountLimitExceeded(LimitExceeded):
    code = "bet_count_limit_exceeded"


class InsufficientFunds(WalletError):
    code = "insufficient_funds"


class IdempotencyConflict(WalletError):
    """The same idempotency key arrived with a different request."""

    code = "idempotency_conflict"


class AlreadyRolledBack(WalletError):
    """A bet arrived after its own rollback (the rollback left a tombstone)."""

    code = "already_rolled_back"


class TransactionNotFound(WalletError):
    code = "transaction_not_found"


class NotReversible(WalletError):
    code = "not_reversible"


class BetNotFound(WalletError):
    code = "bet_not_found"


class BetStateError(WalletError):
    code = "bet_state"


class PermissionDenied(WalletError):
    code = "permission_denied"


class TransferLimitExceeded(PermissionDenied):
    """More than the operator API key may move in one transfer (HTTP 403, not stored: raise the
    key's limit and the same reference goes through)."""

    code = "transfer_limit"


class ProviderUnavailable(WalletError):
    """A sportsbook provider's API could not be reached or refused us (HTTP 503 to our callers)."""

    code = "provider_unavailable"
