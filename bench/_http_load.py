"""The load generator of the wallet HTTP benchmarks: the mix (a provider's scenarios of signed
requests, played in rounds), a cheap keep-alive HTTP/1.1 client, and the clients' loop, closed
or paced, collecting latencies into `Stats`. The capture (bench/_http_pgbench.py) plays the same
rounds in-process.
"""

from __future__ import annotations

import asyncio
import gc
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    sent: int = 0  # every request, warm-up included (for CPU per request)
    due: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the phase, ms) of each counted
    # The load generator's own delays, which a paced phase counts as the server's latency: how
    # late its event loop woke for a timer (sampled every LAG_PERIOD), and its garbage collections.
    loop_lag: list[float] = field(default_factory=list)  # ms
    gc_pauses: list[float] = field(default_factory=list)  # ms
    started: float = 0.0  # perf_counter at the phase's start, what `due` counts from

    def add(self, kind: str, ms: float, at: float = 0.0) -> None:
        self.latencies.setdefault(kind, []).append(ms)
        self.due.append((at, ms))

    def slowest_windows(self, share: float = 0.01, window: float = 0.1) -> tuple[int, int, int]:
        """(the slowest `share` of requests, the `window`-second windows they fell in, the windows
        the phase spans): a few windows mean stalls of the machine or a process, many mean the
        slow requests are spread (queueing, scheduling)."""
        if not self.due:
            return 0, 0, 0
        count = max(1, int(len(self.due) * share))
        slowest = sorted(self.due, key=lambda d: d[1])[-count:]
        span = max(at for at, _ in self.due) - min(at for at, _ in self.due)
        return count, len({int(at / window) for at, _ in slowest}), int(span / window) + 1

    @property
    def all(self) -> list[float]:
        return sorted(x for values in self.latencies.values() for x in values)


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


class Connection:
    """A minimal HTTP/1.1 keep-alive client: the load generator must stay cheap on 2 cores."""

    def __init__(self, host: str, port: int, stats: Stats, sign: Callable[[bytes], tuple[str, str]]) -> None:
        self.host, self.port, self.stats, self.sign = host, port, stats, sign
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """One signed request on the kept-alive connection: (status, body)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.stats.reconnects += 1
        name, value = self.sign(body)
        self.writer.write(
            (
                f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{name}: {value}\r\n\r\n"
            ).encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.reader = self.writer = None
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
            self.reader = self.writer = None


# --- The mix: rounds of requests, shared by the HTTP clients and the capture ---------------------


class Round:
    """One client round: a player and fresh request ids (`ids(name)`: 18 digits, new per round,
    so the capture can tell them from anything else a statement carries)."""

    def __init__(self, rnd: random.Random, player: int, seeded: dict) -> None:
        self.rnd = rnd
        self.player = player
        self.user = str(seeded["ext0"] + player)
        self.token = seeded["tokens"][player] if seeded.get("tokens") else ""
        self._ids: dict[str, str] = {}
        self.last: tuple[str, str, bytes] | None = None  # the previous request, for a retry

    def id(self, name: str) -> str:
        if name not in self._ids:
            self._ids[name] = str(self.rnd.randrange(10**17, 10**18))
        return self._ids[name]

    @property
    def ids(self) -> dict[str, str]:
        return dict(self._ids)


@dataclass(frozen=True)
class Step:
    kind: str  # the label its latencies are reported under
    method: str = "POST"
    path: str = ""
    build: Callable[[Round], bytes] | None = None  # None: send the previous request again, byte for byte
    expect_error: str | None = None  # the provider-level error this step must get (a declined bet)


@dataclass(frozen=True)
class Scenario:
    name: str
    weight: float
    steps: tuple[Step, ...]


@dataclass
class Provider:
    """What differs between the IGPX and the Betsy benchmark."""

    name: str  # igpx / betsy: the clearing account's provider
    currency: str
    env: dict[str, str]  # the secret and anything else its callbacks need
    sign: Callable[[bytes], tuple[str, str]]  # body -> (header, value)
    error_of: Callable[[int, bytes], str | None]  # the answer's error, None on success
    mix: tuple[Scenario, ...]
    mix_text: str
    decline: Scenario | None = None  # sent first in --decline-share of the rounds
    tokens: bool = False  # the seed issues each player a session token

    def pick(self, rnd: random.Random) -> Scenario:
        return rnd.choices(self.mix, weights=[s.weight for s in self.mix])[0]


def request_of(step: Step, rnd_round: Round) -> tuple[str, str, bytes]:
    if step.build is None:
        assert rnd_round.last is not None, f"{step.kind}: a retry needs a request before it"
        return rnd_round.last
    rnd_round.last = (step.method, step.path, step.build(rnd_round))
    return rnd_round.last


async def client_loop(provider: Provider, cid: int, port: int, seeded: dict, start: float, warm: float,
                      end: float, stats: Stats, interval: float, decline_share: float) -> None:  # fmt: skip
    """One provider connection. interval = 0: closed loop (next request when the answer is in);
    interval > 0: paced, one request every `interval` seconds, latency counted from the moment
    the request was due (so queueing behind a slow answer is not hidden)."""
    rnd = random.Random(f"{cid}-{start}")
    conn = Connection("127.0.0.1", port, stats, provider.sign)
    due = start + rnd.random() * interval

    async def send(step: Step, this: Round) -> None:
        nonlocal due
        method, path, body = request_of(step, this)
        if interval:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = due
            due += interval
        else:
            t0 = time.perf_counter()
        status, answer = await conn.request(method, path, body)
        t1 = time.perf_counter()
        stats.sent += 1
        if t0 >= warm and t1 <= end:
            stats.add(step.kind, (t1 - t0) * 1000, t0 - start)
            error = provider.error_of(status, answer)
            if error != step.expect_error:
                key = f"{step.kind}: {error}"
                stats.errors[key] = stats.errors.get(key, 0) + 1

    try:
        while time.perf_counter() < end:
            this = Round(rnd, rnd.randrange(seeded["players"]), seeded)
            if provider.decline is not None and decline_share and rnd.random() < decline_share:
                for step in provider.decline.steps:
                    await send(step, this)
            for step in provider.pick(rnd).steps:
                await send(step, this)
    finally:
        # Close it: a connection left open would stay with its server worker into the next phase.
        await conn.close()


LAG_PERIOD = 0.002  # seconds


async def watch_loop(stats: Stats, warm: float, end: float) -> None:
    """How late this event loop wakes for a timer of LAG_PERIOD, in ms, between `warm` and `end`:
    a request due while the loop was late is sent late, and the paced phases count that delay."""
    while True:
        asked = time.perf_counter()
        if asked >= end:
            return
        await asyncio.sleep(LAG_PERIOD)
        if asked >= warm:
            stats.loop_lag.append(max(0.0, (time.perf_counter() - asked - LAG_PERIOD) * 1000))


class GcWatch:
    """The load generator's garbage collections (gc.callbacks), in ms, while installed."""

    def __init__(self, stats: Stats) -> None:
        self.stats, self.started = stats, 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.stats.gc_pauses.append((time.perf_counter() - self.started) * 1000)


async def drive(provider: Provider, port: int, clients: int, seeded: dict, warmup: float, duration: float,
                rate: float, decline_share: float) -> Stats:  # fmt: skip
    stats = Stats()
    start = stats.started = time.perf_counter()
    warm, end = start + warmup, start + warmup + duration
    interval = clients / rate if rate else 0.0
    watch = GcWatch(stats)
    gc.callbacks.append(watch)
    try:
        await asyncio.gather(
            watch_loop(stats, warm, end),
            *(
                client_loop(provider, c, port, seeded, start, warm, end, stats, interval, decline_share)
                for c in range(clients)
            ),
        )
    finally:
        gc.callbacks.remove(watch)
    return stats
