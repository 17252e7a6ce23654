"""WebSocket routes. The back-office live monitor registers here."""

websocket_urlpatterns: list = []
