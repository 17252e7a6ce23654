"""Sportsbook session launch, per provider. Each provider's package registers its launcher."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wallet.errors import InvalidRequest
from wallet.models import Player

Launcher = Callable[[Player, dict[str, Any]], dict[str, Any]]
_launchers: dict[str, Launcher] = {}


def register(provider: str, launcher: Launcher) -> None:
    _launchers[provider] = launcher


def providers() -> list[str]:
    """The registered providers (the `provider` path parameter's values)."""
    return sorted(_launchers)


def launch_session(*, provider: str, player: Player, options: dict[str, Any]) -> dict[str, Any]:
    launcher = _launchers.get(provider)
    if launcher is None:
        known = ", ".join(sorted(_launchers)) or "none configured"
        raise InvalidRequest(f"unknown sportsbook provider {provider!r} (known: {known})")
    return launcher(player, options)
