"""Market and outcome names from description templates and a market's specifiers.

  {x}            specifier value                       Total {total}          -> Total 2.5
  {+x} / {-x}    signed / negated signed               ({+hcp}) with -1.75    -> (-1.75), {-hcp} -> +1.75
  {!x}           ordinal                               {!goalnr} goal         -> 2nd goal
  {(x+1)}        integer arithmetic, also {!(x+1)}     {(minute-1)}           -> 14
  {$competitor1} {$competitor2} {$event}               fixture names
  {%x}           profile name of the URN held by specifier x (player, competitor)

A token that cannot be rendered (missing specifier, no fixture yet) is left as written: names
are for display, and a visible '{total}' is better than a wrong name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

_TOKEN = re.compile(r"\{([^{}]+)\}")
_EXPR = re.compile(r"^\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*([+-])\s*(\d+)\s*\)$")


def ordinal(number: int) -> str:
    if 10 <= abs(number) % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(abs(number) % 10, "th")
    return f"{number}{suffix}"


def _signed(value: str, negate: bool) -> str:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    if negate:
        number = -number
        # '-' applied to the text keeps its precision: -(-1.75) -> 1.75, not 1.750
    text = format(number, "f")
    if number > 0:
        return "+" + text
    if number == 0:
        return text.lstrip("-")
    return text


def _value(expr: str, specifiers: Mapping[str, str]) -> str | None:
    match = _EXPR.match(expr)
    if match:
        name, op, amount = match.groups()
        raw = specifiers.get(name)
        if raw is None:
            return None
        try:
            base = int(raw)
        except ValueError:
            return None
        return str(base + int(amount) if op == "+" else base - int(amount))
    return specifiers.get(expr)


def render_name(
    template: str,
    specifiers: Mapping[str, str],
    *,
    competitor1: str | None = None,
    competitor2: str | None = None,
    event_name: str | None = None,
    profile_name: Callable[[str], str | None] | None = None,
) -> str:
    """Render a market or outcome name template (see module docstring)."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(1).strip()
        head, rest = token[0], token[1:]
        if head == "$":
            names = {"competitor1": competitor1, "competitor2": competitor2, "event": event_name}
            if event_name is None and competitor1 and competitor2:
                names["event"] = f"{competitor1} vs. {competitor2}"
            found = names.get(rest)
            return found if found else match.group(0)
        if head == "%":
            urn = specifiers.get(rest)
            if urn is None:
                return match.group(0)
            name = profile_name(urn) if profile_name else None
            return name or urn
        if head == "!":
            value = _value(rest, specifiers)
            try:
                return ordinal(int(value)) if value is not None else match.group(0)
            except ValueError:
                return value or match.group(0)
        if head in "+-":
            value = _value(rest, specifiers)
            return _signed(value, negate=head == "-") if value is not None else match.group(0)
        value = _value(token, specifiers)
        return value if value is not None else match.group(0)

    return _TOKEN.sub(replace, template)
