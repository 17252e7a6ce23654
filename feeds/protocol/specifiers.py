"""Market line identity: specifiers 'k=v|k=v'.

Values may hold ':', '-', '+', '.' and even '=' (sr:exact_goals:4+, hcp=-1.75), so each item
is split on its first '='. The feed sends keys in any order (setnr=4|pointnr=45 and
pointnr=1|setnr=2 both occur), so the canonical form sorts by key.
"""

from __future__ import annotations

from functools import lru_cache

from feeds.protocol.errors import MalformedMessage


def parse_specifiers(raw: str | None) -> dict[str, str]:
    """'total=2.5|hcp=-1' -> {'total': '2.5', 'hcp': '-1'}; '' or None -> {}."""
    if not raw:
        return {}
    result: dict[str, str] = {}
    for item in raw.split("|"):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise MalformedMessage(f"invalid specifier {item!r} in {raw!r}")
        if key in result and result[key] != value.strip():
            raise MalformedMessage(f"specifier {key!r} given twice in {raw!r}")
        result[key] = value.strip()
    return result


def format_specifiers(values: dict[str, str]) -> str:
    return "|".join(f"{key}={values[key]}" for key in sorted(values))


@lru_cache(maxsize=65536)  # the same few thousand lines come back all day
def canonical_specifiers(raw: str) -> str:
    """The canonical 'k=v|k=v' (sorted by key) of a specifier string; '' when there are none.

    Raises ValueError (MalformedMessage) on an item without '='.
    """
    return format_specifiers(parse_specifiers(raw))
