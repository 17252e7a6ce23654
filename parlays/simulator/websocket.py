"""The simulator's Pusher-protocol (7) WebSocket server: connection, channel subscriptions checked
against their auth signatures, pings, health checks, and publishing an event to a channel's
subscribers."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from urllib.parse import urlparse

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from parlays.protocol import pusher
from parlays.protocol.jsonio import dumps


class PusherServer:
    """ProphetXSimulator's WebSocket methods (its state is set up in server.py)."""

    def _run_ws(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._ws_server = await serve(
                self._ws_handler, self.host, 0, ping_interval=None, compression=None, max_size=2**20
            )
            port = self._ws_server.sockets[0].getsockname()[1]
            self.ws_url = f"ws://{self.host}:{port}"
            self._health_task = asyncio.create_task(self._health_loop())
            ready.set()
            await self._ws_server.wait_closed()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    async def _shutdown_ws(self) -> None:
        self._health_task.cancel()
        self._ws_server.close()
        for ws in list(self.sockets.values()):
            await ws.close()

    async def _ws_handler(self, ws: ServerConnection) -> None:
        path = urlparse(ws.request.path)
        if path.path != f"/app/{self.app_key}":
            await ws.send(pusher.encode(pusher.ERROR, {"code": 4001, "message": "App key not in this cluster"}))
            await ws.close(4001)
            return
        socket_id = f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**9)}"
        with self._lock:
            self.sockets[socket_id] = ws
            self.subscriptions[socket_id] = set()
        await ws.send(
            pusher.encode(
                pusher.CONNECTION_ESTABLISHED,
                json.dumps({"socket_id": socket_id, "activity_timeout": self.activity_timeout_s}),
            )
        )
        try:
            async for raw in ws:
                try:
                    frame = pusher.parse_frame(raw)
                except Exception:
                    await ws.send(pusher.encode(pusher.ERROR, {"code": 4200, "message": "bad frame"}))
                    continue
                if frame.event == pusher.PING:
                    if self.answer_pings:
                        await ws.send(pusher.PONG_FRAME)
                elif frame.event == pusher.PONG:
                    self.pongs_received += 1
                elif frame.event == pusher.SUBSCRIBE:
                    data = frame.decoded() if not isinstance(frame.data, dict) else frame.data
                    channel, auth = str(data.get("channel", "")), str(data.get("auth", ""))
                    if channel in (self.broadcast_channel, self.private_channel) and pusher.verify_channel_auth(
                        self.app_key, self.app_secret, socket_id, channel, auth
                    ):
                        with self._lock:
                            self.subscriptions[socket_id].add(channel)
                            self.subscription_log.append((socket_id, channel))
                        await ws.send(pusher.encode(pusher.SUBSCRIPTION_SUCCEEDED, "{}", channel))
                    else:
                        await ws.send(
                            pusher.encode(
                                pusher.SUBSCRIPTION_ERROR,
                                {"type": "AuthError", "error": "Invalid signature", "status": 401},
                                channel,
                            )
                        )
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self.sockets.pop(socket_id, None)
                self.subscriptions.pop(socket_id, None)

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)
            if not self.health_paused:
                await self._publish(self.private_channel, "health_check", {"status": "ok"})

    async def _publish(self, channel: str, event: str, payload: dict, timestamp_ns: int | None = None) -> int:
        data = dumps({"payload": payload, "timestamp": timestamp_ns or time.time_ns()}).decode()
        frame = pusher.encode(event, data, channel)
        sent = 0
        with self._lock:
            targets = [
                self.sockets[s] for s, chans in self.subscriptions.items() if channel in chans and s in self.sockets
            ]
        for ws in targets:
            try:
                await ws.send(frame)
                sent += 1
            except ConnectionClosed:
                pass
        return sent

    def publish(self, channel: str, event: str, payload: dict, timestamp_ns: int | None = None) -> int:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(
            self._publish(channel, event, payload, timestamp_ns), self._loop
        ).result(5)

    def send_raw(self, text: str) -> None:
        """Send any text to every connected socket (tests of malformed frames)."""

        async def send() -> None:
            for ws in list(self.sockets.values()):
                await ws.send(text)

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(send(), self._loop).result(5)

    def drop_connections(self) -> None:
        async def close() -> None:
            for ws in list(self.sockets.values()):
                await ws.close(1001)

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)

    def subscribed_sockets(self) -> int:
        with self._lock:
            return sum(1 for chans in self.subscriptions.values() if len(chans) == 2)
