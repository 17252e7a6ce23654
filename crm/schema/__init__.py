"""Validation of SPORTSBOOK events against our own JSON Schema (sportsbook.schema.json).

Used by the tests and by the Fast Track simulator. jsonschema's built-in "date-time" check
needs an optional package and silently passes without it, so a strict RFC3339 checker is
registered here. Rules JSON Schema cannot express (amount = wager + bonus + locked) are
checked in `problems()` too.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("sportsbook.schema.json")

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True  # type is checked elsewhere
    match = _RFC3339.match(value)
    if not match:
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@cache
def _validator():
    from jsonschema import Draft7Validator, FormatChecker

    checker = FormatChecker()
    checker.checks("date-time")(is_rfc3339)
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, format_checker=checker)


def problems(payload: Any) -> list[str]:
    """Every way `payload` (parsed with Decimal numbers) breaks the schema or our rules."""
    found = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(_validator().iter_errors(payload), key=lambda e: list(e.absolute_path))
    ]
    if isinstance(payload, dict) and not found:
        parts = [payload.get(k) for k in ("wager_amount", "bonus_wager_amount", "locked_wager_amount")]
        if all(isinstance(p, int | Decimal) for p in parts) and sum(parts) != payload["amount"]:  # type: ignore[arg-type]
            found.append("amount: must equal wager_amount + bonus_wager_amount + locked_wager_amount")
    return found


class SchemaError(ValueError):
    pass


def validate(payload: Any) -> None:
    errors = problems(payload)
    if errors:
        raise SchemaError("; ".join(errors))
