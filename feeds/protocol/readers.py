"""Attribute readers shared by the feed message parsers (feeds.protocol.messages, .odds).

Each reads one attribute of an ElementTree element and raises MalformedMessage naming the
element and the attribute when the value is required but missing or not well-formed.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from feeds.protocol.errors import MalformedMessage
from feeds.protocol.specifiers import canonical_specifiers
from feeds.protocol.xmlsafe import Element, local


def _get(el: Element, name: str) -> str | None:
    value = el.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _int(el: Element, name: str, *, required: bool = False, where: str = "") -> int | None:
    value = _get(el, name)
    if value is None:
        if required:
            raise MalformedMessage(f"{where or local(el.tag)}: missing required attribute {name!r}")
        return None
    try:
        return int(value)
    except ValueError:
        raise MalformedMessage(f"{where or local(el.tag)}: {name}={value!r} is not a whole number") from None


def _req_int(el: Element, name: str, where: str = "") -> int:
    value = _int(el, name, required=True, where=where)
    assert value is not None
    return value


def _decimal(el: Element, name: str, *, where: str = "") -> Decimal | None:
    return _number(_get(el, name), name, where or local(el.tag))


def _flag(el: Element, name: str, default: bool | None = None) -> bool | None:
    value = _get(el, name)
    if value is None:
        return default
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise MalformedMessage(f"{local(el.tag)}: {name}={value!r} is not 0/1")


def _specifiers(el: Element, name: str, where: str) -> str:
    raw = _get(el, name)
    if raw is None:
        return ""
    try:
        return canonical_specifiers(raw)
    except MalformedMessage as exc:
        raise MalformedMessage(f"{where}: {exc}") from None


def _extended(el: Element) -> str:
    # 'extended_specifers' (sic) appears in Sportradar's own bet_cancel sample.
    raw = _get(el, "extended_specifiers") or _get(el, "extended_specifers")
    return raw or ""


def _plain(el: Element) -> dict[str, str]:
    return {local(k): v for k, v in el.attrib.items()}


def _market_id(el: Element, where: str) -> int:
    market_id = _req_int(el, "id", where)
    if market_id <= 0:
        raise MalformedMessage(f"{where}: market id {market_id} must be positive")
    return market_id


def _outcome_id(el: Element, where: str) -> str:
    outcome_id = _get(el, "id")
    if outcome_id is None:
        raise MalformedMessage(f"{where}: outcome without id")
    return outcome_id


def _number(raw: str | None, name: str, where: str) -> Decimal | None:
    if raw is None or raw == "":
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise MalformedMessage(f"{where}: {name}={raw!r} is not a number") from None
    if not number.is_finite():
        raise MalformedMessage(f"{where}: {name}={raw!r} is not finite")
    return number
