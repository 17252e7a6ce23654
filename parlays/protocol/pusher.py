"""The Pusher Channels protocol (version 7), as ProphetX's parlay WebSocket uses it.

Frames are JSON objects `{"event", "channel"?, "data"}`; `data` is usually a JSON *string*.
Private channels are authorised with `<app key>:<hex HMAC-SHA256(secret, "<socket_id>:<channel>")>`;
ProphetX computes that for us in /parlay/sp/websocket/register, our simulator checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from parlays.protocol.errors import ProtocolError
from parlays.protocol.jsonio import loads

PROTOCOL_VERSION = 7
CLIENT_NAME = "touchline"
CLIENT_VERSION = "1.0"

CONNECTION_ESTABLISHED = "pusher:connection_established"
SUBSCRIBE = "pusher:subscribe"
SUBSCRIPTION_SUCCEEDED = "pusher_internal:subscription_succeeded"
SUBSCRIPTION_ERROR = "pusher:subscription_error"
PING = "pusher:ping"
PONG = "pusher:pong"
ERROR = "pusher:error"

PING_FRAME = '{"event":"pusher:ping","data":{}}'
PONG_FRAME = '{"event":"pusher:pong","data":{}}'

_SOCKET_ID = re.compile(r"^\d+\.\d+$")
_CHANNEL = re.compile(r"^[A-Za-z0-9_\-=@,.;]{1,200}$")
MAX_FRAME_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Frame:
    event: str
    channel: str
    data: Any  # str (JSON text) or an already-decoded object

    def decoded(self) -> Any:
        """`data` parsed (numbers as int/Decimal); an object stays as is."""
        if isinstance(self.data, str):
            if not self.data:
                return {}
            try:
                return loads(self.data)
            except ValueError as exc:
                raise ProtocolError(f"{self.event}: data is not JSON ({exc})") from None
        return self.data


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    key: str
    cluster: str
    app_id: str = ""


@dataclass(frozen=True, slots=True)
class AuthorizedChannel:
    name: str
    auth: str
    events: tuple[str, ...]

    @property
    def is_broadcast(self) -> bool:
        return "broadcast" in self.name


def parse_frame(raw: str | bytes) -> Frame:
    if isinstance(raw, bytes):
        if len(raw) > MAX_FRAME_BYTES:
            raise ProtocolError("frame too large")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("frame is not UTF-8") from None
    if len(raw) > MAX_FRAME_BYTES:
        raise ProtocolError("frame too large")
    try:
        # The same strict reader as every other JSON input: a duplicate key, a lone surrogate or
        # nesting too deep is a protocol error, never a last-one-wins or a crash.
        message = loads(raw)
    except ValueError as exc:
        raise ProtocolError(f"frame is not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a JSON object")
    event = message.get("event")
    if not isinstance(event, str) or not event or len(event) > 100:
        raise ProtocolError("frame has no event name")
    channel = message.get("channel") or ""
    if not isinstance(channel, str):
        raise ProtocolError("frame channel is not a string")
    return Frame(event=event, channel=channel, data=message.get("data", ""))


def encode(event: str, data: Any, channel: str = "") -> str:
    message: dict[str, Any] = {"event": event, "data": data}
    if channel:
        message["channel"] = channel
    return json.dumps(message, separators=(",", ":"))


def subscribe_frame(channel: str, auth: str) -> str:
    return encode(SUBSCRIBE, {"channel": channel, "auth": auth})


def parse_connection_established(frame: Frame) -> tuple[str, int]:
    """(socket_id, activity_timeout seconds)."""
    if frame.event != CONNECTION_ESTABLISHED:
        raise ProtocolError(f"expected {CONNECTION_ESTABLISHED}, got {frame.event}")
    data = frame.decoded()
    if not isinstance(data, Mapping):
        raise ProtocolError("connection_established data is not an object")
    socket_id = data.get("socket_id")
    if not isinstance(socket_id, str) or not _SOCKET_ID.match(socket_id):
        raise ProtocolError(f"bad socket_id {socket_id!r}")
    timeout = data.get("activity_timeout", 120)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        timeout = 120
    return socket_id, min(timeout, 600)


def parse_error(frame: Frame) -> tuple[int | None, str]:
    data = frame.decoded()
    if not isinstance(data, Mapping):
        return None, str(data)
    code = data.get("code")
    return (code if isinstance(code, int) and not isinstance(code, bool) else None), str(data.get("message", ""))


def error_action(code: int | None) -> str:
    """What a pusher:error asks of the client: 'fatal' (fix configuration), 'backoff' or 'now'."""
    if code is None:
        return "backoff"
    if 4000 <= code <= 4099:
        return "fatal"
    if 4200 <= code <= 4299:
        return "now"
    return "backoff"


def channel_signature(key: str, secret: str, socket_id: str, channel: str) -> str:
    digest = hmac.new(secret.encode(), f"{socket_id}:{channel}".encode(), hashlib.sha256).hexdigest()
    return f"{key}:{digest}"


def verify_channel_auth(key: str, secret: str, socket_id: str, channel: str, auth: str) -> bool:
    return hmac.compare_digest(channel_signature(key, secret, socket_id, channel).encode(), auth.encode())


def ws_url(config: ConnectionConfig, *, override: str = "") -> str:
    """wss://ws-<cluster>.pusher.com:443/app/<key>?protocol=7&client=…; PROPHETX_WS_URL replaces the host."""
    query = urlencode({"protocol": PROTOCOL_VERSION, "client": CLIENT_NAME, "version": CLIENT_VERSION})
    base = override.rstrip("/") if override else f"wss://ws-{config.cluster}.pusher.com:443"
    return f"{base}/app/{config.key}?{query}"


def parse_connection_config(body: Any) -> ConnectionConfig:
    """The config is top-level `{key, cluster, app_id}`; tolerate a `data` wrapper too."""
    if isinstance(body, Mapping) and "key" not in body and isinstance(body.get("data"), Mapping):
        body = body["data"]
    if not isinstance(body, Mapping):
        raise ProtocolError("connection config is not an object")
    key, cluster = body.get("key"), body.get("cluster")
    if (
        not isinstance(key, str)
        or not key
        or not isinstance(cluster, str)
        or not re.match(r"^[a-z0-9-]{1,40}$", cluster)
    ):
        raise ProtocolError("connection config lacks key or cluster")
    app_id = body.get("app_id", "")
    return ConnectionConfig(key=key, cluster=cluster, app_id=str(app_id))


def parse_register_response(body: Any) -> tuple[AuthorizedChannel, ...]:
    """`{data: {authorized_channel: [{channel_name, auth, binding_events}]}}` (auth may be top-level)."""
    if not isinstance(body, Mapping):
        raise ProtocolError("register answer is not an object")
    data = body.get("data") if isinstance(body.get("data"), Mapping) else body
    channels = data.get("authorized_channel") or data.get("authorized_channels")
    if not isinstance(channels, list) or not channels:
        raise ProtocolError("register answer has no authorized_channel")
    shared_auth = data.get("auth") or body.get("auth")
    result = []
    for item in channels:
        if not isinstance(item, Mapping):
            raise ProtocolError("authorized_channel item is not an object")
        name = item.get("channel_name")
        auth = item.get("auth") or shared_auth
        events = item.get("binding_events") or []
        if not isinstance(name, str) or not _CHANNEL.match(name):
            raise ProtocolError(f"bad channel_name {name!r}")
        if not isinstance(auth, str) or not auth:
            raise ProtocolError(f"no auth for channel {name}")
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ProtocolError(f"bad binding_events for {name}")
        result.append(AuthorizedChannel(name=name, auth=auth, events=tuple(events)))
    return tuple(result)
