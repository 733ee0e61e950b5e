"""The project events for Socket.IO clients at /socket.io/ (python-socketio; Engine.IO v4, websocket
and polling), from the same channel layer and with the same rules as the raw WebSocket.

Each Socket.IO connection gets its own channel-layer channel and a task that receives from it, joined
to its project's group, so events of every instance reach it, in seq order, gaps filled from the
database (sessions/subscriptions.py). An event is emitted under its type with its `data` as the first
argument, exactly as REST and the WebSocket give it; a stored event's `seq` is the second argument.
Resume: subscribe with `{project_id, after: <last seq>}`.
"""

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

import socketio
from channels.layers import get_channel_layer

from sessions import events
from sessions.subscriptions import SubscribeRefused, Subscription, connections
from vibegrapher.access import token_required, token_valid, websocket_token
from vibegrapher.websocket_security import origin_allowed

logger = logging.getLogger(__name__)
CODE_UPDATE = "code_update"  # beside code_changed: the name the seed's frontend listens for
WORKFLOW_FILENAME = "workflow.py"


def _origin_allowed(origin: str | None, environ: dict) -> bool:
    return origin_allowed(origin, environ.get("HTTP_HOST"))


server = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=_origin_allowed, logger=False)


class _Client:
    """One Socket.IO connection: its channel, its receive loop, its subscription, its heartbeat."""

    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.layer = get_channel_layer()
        self.channel = ""
        self.subscription = Subscription(self.emit)
        self.tasks: list[asyncio.Task] = []
        self.lock = asyncio.Lock()  # a subscribe and live events do not interleave their sends

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        self.tasks = [
            asyncio.create_task(self._receive()),
            asyncio.create_task(
                self.subscription.heartbeats(rejoin=lambda group: self.layer.group_add(group, self.channel))
            ),
        ]

    async def emit(self, event: dict[str, Any]) -> None:
        data = event["data"]
        args = (data, event["seq"]) if "seq" in event else data
        await server.emit(event["type"], args, to=self.sid)
        if event["type"] == events.CODE_CHANGED:
            await server.emit(
                CODE_UPDATE, {"content": data.get("new_code"), "filename": WORKFLOW_FILENAME}, to=self.sid
            )

    async def subscribe(self, project_id: Any, after: Any) -> None:
        try:
            project_id, after_seq = await Subscription.project_checked(project_id, after)
        except SubscribeRefused as exc:
            await server.emit(events.ERROR, {"detail": str(exc)}, to=self.sid)
            return
        async with self.lock:
            await self.leave()
            self.subscription.start(project_id)
            await self.layer.group_add(events.group_name(project_id), self.channel)
            await server.emit(events.SUBSCRIBED, {"project_id": project_id}, to=self.sid)
            await self.subscription.catch_up(after_seq)

    async def leave(self) -> str | None:
        left = self.subscription.stop()
        if left is not None:
            await self.layer.group_discard(events.group_name(left), self.channel)
        return left

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.leave()

    async def _receive(self) -> None:
        while True:
            message = await self.layer.receive(self.channel)
            if message.get("type") == "project.event":
                async with self.lock:
                    await self.subscription.project_event(message)


_clients: dict[str, _Client] = {}


def _payload(data: Any) -> dict:
    if isinstance(data, str):
        return {"project_id": data}
    return data if isinstance(data, dict) else {}


@server.event
async def connect(sid: str, environ: dict, auth: Any = None) -> None:
    token = auth.get("token") if isinstance(auth, dict) else None
    if token_required() and not token_valid(token or websocket_token(environ.get("asgi.scope", {}))):
        raise socketio.exceptions.ConnectionRefusedError(
            {"detail": "This API needs a token: connect with auth {token} or ?token=<VIBEGRAPHER_API_TOKEN>."}
        )
    client = _clients[sid] = _Client(sid)
    connections[None] += 1
    await client.start()
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("project_id"):
        # After the connect handler returns: emits before then would precede the client's connection.
        asyncio.create_task(client.subscribe(query["project_id"][0], (query.get("after") or [None])[0]))


@server.on("subscribe")
@server.on("join_project")
async def subscribe(sid: str, data: Any = None) -> None:
    payload = _payload(data)
    await _clients[sid].subscribe(payload.get("project_id"), payload.get("after"))


@server.on("unsubscribe")
@server.on("leave_project")
async def unsubscribe(sid: str, data: Any = None) -> None:
    client = _clients[sid]
    async with client.lock:
        left = await client.leave()
    await server.emit("unsubscribed", {"project_id": left}, to=sid)


@server.event
async def disconnect(sid: str, reason: Any = None) -> None:
    client = _clients.pop(sid, None)
    if client is not None:
        connections[None] -= 1
        await client.close()


application = socketio.ASGIApp(server, socketio_path="socket.io")
