"""Errors raised by the protocol layer, each with a ProphetX-style code."""

from __future__ import annotations


class ProtocolError(Exception):
    """A frame or body that does not follow the protocol. Never partially applied."""

    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, field: str = "") -> None:
        super().__init__(message)
        if code:
            self.code = code
        self.field = field


class InvalidOdds(ProtocolError):
    code = "invalid_odds"


class UnknownTopic(ProtocolError):
    code = "unknown_topic"


class ProphetXAPIError(Exception):
    """A REST call that ProphetX answered with an error (or that could not reach it)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code or ("network_error" if status == 0 else "http_error")
        self.body = body

    @property
    def is_network(self) -> bool:
        return self.status == 0


class LoginCooldown(ProphetXAPIError):
    """We refuse to log in again so soon: ProphetX limits sessions per key."""

    def __init__(self, seconds_left: int) -> None:
        super().__init__(
            f"login refused locally for {seconds_left}s more (session limit)", status=0, code="login_cooldown"
        )
