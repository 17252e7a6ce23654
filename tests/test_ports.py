"""config.ports: a port for a server started later is never one an outgoing connection can take."""

from __future__ import annotations

import socket

from config import ports


def test_the_port_is_free_and_below_the_ephemeral_range():
    low, high = ports.ephemeral_range()
    assert 1024 <= low < high
    for _ in range(20):
        port = ports.listen_port()
        assert ports._LOWEST <= port < low
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free


def test_a_taken_port_is_passed_over(monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken_port = taken.getsockname()[1]
    monkeypatch.setattr(ports, "_LOWEST", taken_port)
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (taken_port + 1001, taken_port + 2000))
    monkeypatch.setattr(ports.random, "sample", lambda population, k: [taken_port, taken_port + 1])
    try:
        assert ports.listen_port() == taken_port + 1
    finally:
        taken.close()


def test_without_room_below_the_range_it_asks_the_kernel(monkeypatch):
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (ports._LOWEST + 10, 65000))
    assert 0 < ports.listen_port() < 65536


def test_the_range_is_read_from_the_kernel_or_defaulted(monkeypatch, tmp_path):
    assert ports.ephemeral_range()[0] > 0
    monkeypatch.setattr(ports, "Path", lambda _: tmp_path / "missing")
    assert ports.ephemeral_range() == (32768, 60999)
