"""Per-provider address allow-lists for the callbacks (IGPX_ALLOWED_IPS, BETSY_ALLOWED_IPS).

Optional: an empty list allows every address, and costs the callback one attribute read. The
address checked is the TCP peer (REMOTE_ADDR): behind a reverse proxy that is the proxy, so
list the proxy there and let the proxy restrict the provider. A refused address is logged
once per interval, with a count, never once per request (config.logthrottle).
"""

from __future__ import annotations

import functools
import ipaddress
import logging

from django.core.exceptions import ImproperlyConfigured

from config.env import env_list
from config.logthrottle import Throttled

security_logger = logging.getLogger("touchline.security")
_refusals = Throttled(security_logger)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AllowList:
    def __init__(self, variable: str, items: list[str]) -> None:
        self.variable = variable
        self.networks: tuple[Network, ...] = tuple(_network(variable, item) for item in items)
        self.allows = functools.lru_cache(maxsize=1024)(self._allows)

    def _allows(self, address: str | None) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:203.0.113.7 from a dual-stack socket is 203.0.113.7
        return any(ip in network for network in self.networks)

    def refuse(self, provider: str, address: str | None) -> None:
        """Log a refused address: its first request at once, then one line per minute with a count."""
        _refusals.warning(
            f"{provider}:{address}", "%s callback from %s refused: not in %s", provider, address, self.variable
        )


def _network(variable: str, item: str) -> Network:
    try:
        return ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"Environment variable {variable} item {item!r} is not an IP address or network (e.g. 203.0.113.0/24)."
        ) from None


def from_env(variable: str) -> AllowList:
    return AllowList(variable, env_list(variable, []))
