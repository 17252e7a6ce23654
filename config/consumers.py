"""WebSocket consumer of the live dashboard: staff only (with TOTP where the admin asks for it), one
group, snapshots in, JSON out."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from config import dashboard
from config.admin_site import may_watch_dashboard


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        allowed = await database_sync_to_async(may_watch_dashboard)(self.scope.get("user"), self.scope.get("session"))
        if not allowed:
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
