"""WebSocket consumer of the live dashboard: staff only, one group, snapshots in, JSON out."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config import dashboard


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(dashboard.GROUP, self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(dashboard.snapshot)())

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(dashboard.GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        """The dashboard only listens; anything a client sends is ignored."""

    async def dashboard_update(self, event: dict) -> None:
        await self.send_json(event["snapshot"])
