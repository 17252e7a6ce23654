"""Secrets and production mode (docs/SECURITY.md).

Production mode is `DEBUG=false` without `TOUCHLINE_DEMO=true`. There, a secret that is missing
or still one of the public demo values below stops start-up: with the demo IGPX secret anyone
can sign a result that credits a player.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

from config.env import env_str

# Published in this repository, so worthless as secrets: the demo and the tests run on them.
DEMO_SECRETS: dict[str, str] = {
    "SECRET_KEY": "touchline-insecure-development-key-change-me-in-production",
    "IGPX_SECURITY_HASH": "touchline-demo-igpx-secret",
    "BETSY_PARTNER_SECRET": "touchline-demo-betsy-secret",
}


def env_secrets(demo_values: Mapping[str, str], *, allow_demo: bool) -> dict[str, str]:
    """Each secret from its variable; the demo value only when `allow_demo`. Names every
    variable to fix at once, so an operator does not discover them one start-up at a time."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for name, demo in demo_values.items():
        value = env_str(name, "")
        if value and value != demo:
            values[name] = value
        elif allow_demo:
            values[name] = demo
        else:
            problems.append(f"{name} is {'the public demo value' if value else 'not set'}")
    if problems:
        raise ImproperlyConfigured(
            "Production mode (DEBUG=false) refuses to start: "
            + "; ".join(problems)
            + ". Set each to a secret of your own (e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'),"
            " or set TOUCHLINE_DEMO=true for a demo or development install."
        )
    return values
