"""JSON in and out without floats.

Inbound: `wallet.money.loads` (numbers become int or Decimal). Outbound: a small encoder that
writes Decimal as its exact text, which the standard encoder cannot do without going through
float. Bodies here are small trees of dict/list/str/int/Decimal/bool/None.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from wallet.money import loads

__all__ = ["dumps", "loads"]

_encode_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_encode_str(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("cannot encode a non-finite Decimal")
        out.append(format(value, "f"))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("ascii")
