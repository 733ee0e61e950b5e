"""WebSocket consumer: join a project's group, replay missed events, forward live ones, heartbeat."""

import asyncio
import json
import logging
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from redis.exceptions import RedisError

from sessions import events
from sessions.subscriptions import SubscribeRefused, Subscription, connections
from vibegrapher.access import TOKEN_SUBPROTOCOL

logger = logging.getLogger(__name__)
CLOSE_NOT_FOUND = 4404  # no such project, or no such WebSocket path
CLOSE_LAYER_UNAVAILABLE = 1011  # the channel layer (Redis) cannot be reached
LAYER_UNAVAILABLE = "Live events are unavailable: the channel layer cannot be reached. Try again later."


class ProjectEventsConsumer(AsyncJsonWebsocketConsumer):
    """Messages are `{"type", "data"}` (SPEC section 7); every stored event carries its `seq` beside
    them, so a client can reconnect with `?after=<last seq>` and get the stored events it missed."""

    closed = False
    counted = False
    heartbeat: "asyncio.Task | None" = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except RedisError as exc:
            # The channel layer is unreachable: no event can reach this socket. Close it with a code
            # that says so (the client may retry), instead of dropping it without one.
            logger.error("Closing a WebSocket: the channel layer is unreachable (%s)", exc)
            await send({"type": "websocket.close", "code": CLOSE_LAYER_UNAVAILABLE, "reason": LAYER_UNAVAILABLE})
        finally:
            # Also when a handler failed (a send to a client that had already gone): the connection
            # must leave its group and the heartbeat's counts.
            await self._release()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.subscription = Subscription(self.send_json)

    async def connect(self) -> None:
        # A browser that sent its token as a subprotocol needs one chosen back.
        await self.accept(
            subprotocol=TOKEN_SUBPROTOCOL if TOKEN_SUBPROTOCOL in self.scope.get("subprotocols", []) else None
        )
        connections[None] += 1
        self.counted = True
        self.heartbeat = asyncio.create_task(
            self.subscription.heartbeats(rejoin=lambda group: self.channel_layer.group_add(group, self.channel_name))
        )
        project_id = self.scope["url_route"]["kwargs"].get("project_id")
        if project_id is not None:
            query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
            if not await self._subscribe(project_id, after=(query.get("after") or [None])[0]):
                await self.close(code=CLOSE_NOT_FOUND)

    async def disconnect(self, code: int) -> None:
        await self._release()

    async def _release(self) -> None:
        self.closed = True
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        await self._unsubscribe()
        if self.counted:
            self.counted = False
            connections[None] -= 1

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            content = json.loads(text_data if text_data is not None else bytes_data or b"")
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            await self._error('Messages must be JSON objects like {"type": "subscribe", "project_id": "..."}.')
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            await self._error('Messages must be JSON objects with a "type".')
            return
        kind = content.get("type")
        if kind == "subscribe":
            await self._subscribe(content.get("project_id"), after=content.get("after"))
        elif kind == "unsubscribe":
            left = await self._unsubscribe()
            await self.send_json(events.envelope("unsubscribed", {"project_id": left}))
        elif kind == "ping":
            await self.send_json(events.envelope("pong", {}))
        else:
            await self._error(f"Unknown message type {kind!r}; use subscribe, unsubscribe or ping.")

    async def dispatch(self, message: dict) -> None:
        # Channels runs close_old_connections in the one shared sync thread before every handler; a
        # live event touches no database, and with hundreds of sockets that hop queued every event
        # behind the runs' own database work (seconds of delay under load).
        if message["type"] == "project.event":
            await self.project_event(message)
        else:
            await super().dispatch(message)

    async def project_event(self, message: dict) -> None:
        await self.subscription.project_event(message)

    async def _subscribe(self, project_id, *, after) -> bool:
        try:
            project_id, after_seq = await Subscription.project_checked(project_id, after)
        except SubscribeRefused as exc:
            await self._error(str(exc))
            return False
        await self._unsubscribe()
        if self.closed:  # the client left while the project was looked up
            return False
        self.subscription.start(project_id)
        # Joined the group before reading where the stored events stand: nothing falls in between.
        await self.channel_layer.group_add(events.group_name(project_id), self.channel_name)
        await self.send_json(events.envelope(events.SUBSCRIBED, {"project_id": project_id}))
        await self.subscription.catch_up(after_seq)
        return True

    async def _unsubscribe(self) -> str | None:
        """Leave the project's group; returns the id of the project left (None: there was none)."""
        left = self.subscription.stop()
        if left is None:
            return None
        try:
            await self.channel_layer.group_discard(events.group_name(left), self.channel_name)
        except RedisError as exc:
            if not self.closed:
                raise
            # Closing while the layer is unreachable: the membership expires with the layer's group expiry.
            logger.warning("A closed WebSocket could not leave %s (%s)", events.group_name(left), exc)
        return left

    async def _error(self, detail: str) -> None:
        await self.send_json(events.envelope(events.ERROR, {"detail": detail}))


class UnknownPathConsumer(AsyncJsonWebsocketConsumer):
    """Any other WebSocket path: says which ones exist and closes, instead of failing the handshake."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.subscription = Subscription(self.send_json)

    async def connect(self) -> None:
        await self.accept()
        detail = f"No WebSocket endpoint at {self.scope['path']}; use /ws/projects/<project_id> or /ws."
        await self.send_json(events.envelope(events.ERROR, {"detail": detail}))
        await self.close(code=CLOSE_NOT_FOUND)
