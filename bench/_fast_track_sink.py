#!/usr/bin/env python
"""A Fast Track REST endpoint for the wallet HTTP benchmarks that costs next to no CPU: it answers
every request 200 and checks nothing.

In production Fast Track runs on Fast Track's machines; in the benchmarks its stand-in shares
the two cores with the server, PostgreSQL and the delivery worker, so its CPU would be taken
from the wallet callbacks being measured. crm.simulator's threaded http.server (which also
parses and records each event) cost 0.24 ms of CPU per wallet request there
(docs/benchmarks/crm.md); this asyncio protocol a fraction of it. The benchmarks still report
its CPU per request ("fake fast track"). Delivery's correctness against the real wire format is
the test suite's business (tests/crm, against crm.simulator).

    python bench/_fast_track_sink.py     # prints its URL, serves until killed
"""

from __future__ import annotations

import asyncio

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"status":"ok"}'


class Sink(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else len(head)])
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length :]
            self.transport.write(ANSWER)
        self.buffer = buffer


async def main() -> None:
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"http://{host}:{port}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
