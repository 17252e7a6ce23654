"""Errors raised by the UOF protocol layer. Each carries a short machine code for the journal."""

from __future__ import annotations


class UofError(Exception):
    code = "uof_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def reason(self) -> str:
        """What the journal stores: '<code>: <message>'."""
        return f"{self.code}: {self}"


class MalformedMessage(UofError):
    """The bytes are not a message we can apply (bad XML, missing or invalid required data)."""

    code = "malformed"


class UnsafeXml(MalformedMessage):
    """A DTD, entity declaration or other construct the feed never sends and parsers must refuse."""

    code = "unsafe_xml"


class MessageTooLarge(MalformedMessage):
    code = "too_large"


class UnknownMessageType(MalformedMessage):
    code = "unknown_type"


class InvalidRoutingKey(UofError):
    code = "bad_routing_key"


class UofApiError(UofError):
    """A REST call failed: HTTP status, the body's response_code (e.g. FORBIDDEN) and message."""

    code = "api_error"

    def __init__(self, message: str, *, status: int | None = None, response_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.response_code = response_code


class UofNotFound(UofApiError):
    code = "not_found"
