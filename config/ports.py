"""A port for a server that is started a little later (prod-check, the process tests)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

# Linux's default, for systems that do not say (net.ipv4.ip_local_port_range).
_EPHEMERAL = (32768, 60999)
_LOWEST = 10000


def ephemeral_range() -> tuple[int, int]:
    """The source ports the kernel hands outgoing connections."""
    try:
        low, high = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return _EPHEMERAL
    return low, high


def listen_port(host: str = "127.0.0.1") -> int:
    """A free port outside the ephemeral range.

    A port from bind(0) is an ephemeral one: in the seconds before the server binds it
    (migrations, the simulators starting), any process's outgoing connection may take it as its
    source port, and the server then cannot bind ("Can't connect to ('127.0.0.1', 42397)" in a
    CI run's prod-check). Outgoing connections never get a port below the range."""
    low, _ = ephemeral_range()
    if low - _LOWEST >= 1000:
        for port in random.sample(range(_LOWEST, low), 50):
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:  # a system whose ephemeral range starts low: as before
        sock.bind((host, 0))
        return sock.getsockname()[1]
