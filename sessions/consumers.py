"""WebSocket consumer: join a project's group, replay missed events, forward live ones, heartbeat."""

import asyncio
import json
import logging
import uuid
from collections import Counter
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from projects.models import Project
from sessions import events
from vibegrapher.access import TOKEN_SUBPROTOCOL

# Connections per project on this instance, for the heartbeat.
_connections: Counter[str | None] = Counter()
logger = logging.getLogger(__name__)
CLOSE_NOT_FOUND = 4404  # no such project, or no such WebSocket path
CLOSE_LAYER_UNAVAILABLE = 1011  # the channel layer (Redis) cannot be reached
LAYER_UNAVAILABLE = "Live events are unavailable: the channel layer cannot be reached. Try again later."
AFTER_LATEST = "latest"
_MAX_SEQ = 2**63 - 1


class ProjectEventsConsumer(AsyncJsonWebsocketConsumer):
    """Messages are `{"type", "data"}` (SPEC section 7). A client that subscribed with `after` (a
    sequence number, or `latest` for no replay) gets the stored events it missed, and every stored
    event carries its `seq` beside them, so it can reconnect with `?after=<last seq>`."""

    project_id: str | None = None
    with_seq = False
    # Every stored event of the subscribed project up to this seq has been sent (or predates the
    # subscription). Live events from several processes can arrive out of order, or be dropped by a
    # full channel: a seq beyond the next one is sent after the missing ones, read from the database.
    sent_upto = 0
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

    async def connect(self) -> None:
        # A browser that sent its token as a subprotocol needs one chosen back.
        await self.accept(
            subprotocol=TOKEN_SUBPROTOCOL if TOKEN_SUBPROTOCOL in self.scope.get("subprotocols", []) else None
        )
        _connections[None] += 1
        self.counted = True
        self.heartbeat = asyncio.create_task(self._heartbeat())
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
            _connections[None] -= 1

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
        if self.project_id is None or message.get("group") != events.group_name(self.project_id):
            return  # sent to a project this socket has left since (its seq numbers are another project's)
        event = message["event"]
        seq = event.get("seq")
        if seq is None:
            await self._send_event(event)
            return
        if seq <= self.sent_upto:
            return  # already sent (replayed, or read from the database to fill a gap)
        if seq > self.sent_upto + 1:
            await self._send_stored(upto=seq - 1)  # committed before this one: it is in the database
        await self._send_event(event)
        self.sent_upto = seq

    async def _subscribe(self, project_id, *, after) -> bool:
        if project_id in (None, ""):
            await self._error('Subscribe needs a "project_id": the id of a project.')
            return False
        try:
            project_uuid = uuid.UUID(str(project_id))
        except ValueError:
            await self._error(f"Project {project_id!r} not found: project ids are UUIDs.")
            return False
        try:
            after_seq = int(after) if after not in (None, "", AFTER_LATEST) else None
        except (TypeError, ValueError):
            await self._error(f'"after" must be an event sequence number or "{AFTER_LATEST}", not {after!r}.')
            return False
        if after_seq is not None:
            after_seq = max(0, min(after_seq, _MAX_SEQ))  # beyond any stored seq; keeps the query in BIGINT range
        if not await Project.objects.filter(pk=project_uuid).aexists():
            await self._error(f"Project {project_id} not found.")
            return False
        await self._unsubscribe()
        if self.closed:  # the client left while the project was looked up
            return False
        self.project_id = str(project_uuid)
        _connections[self.project_id] += 1
        # Joined the group before reading where the stored events stand: nothing falls in between.
        await self.channel_layer.group_add(events.group_name(self.project_id), self.channel_name)
        latest = await sync_to_async(events.event_seq_latest)(project_id=self.project_id)
        await self.send_json(events.envelope(events.SUBSCRIBED, {"project_id": self.project_id}))
        self.with_seq = after not in (None, "")
        self.sent_upto = latest if after_seq is None else min(after_seq, latest)
        if self.sent_upto < latest:
            await self._send_stored(upto=latest)
        return True

    async def _send_stored(self, *, upto: int) -> None:
        """Send the stored events after `sent_upto` up to seq `upto`, in order, a page at a time."""
        project_id = self.project_id
        while project_id is not None and self.sent_upto < upto:
            page = await sync_to_async(events.events_after)(
                project_id=project_id, after=self.sent_upto, upto=upto, limit=events.REPLAY_PAGE
            )
            if not page:
                self.sent_upto = upto  # numbers of events that were never stored (none today): nothing to send
                return
            for event in page:
                await self._send_event(event)
                self.sent_upto = event["seq"]

    async def _send_event(self, event: dict) -> None:
        await self.send_json(event if self.with_seq else {"type": event["type"], "data": event["data"]})

    async def _unsubscribe(self) -> str | None:
        """Leave the project's group; returns the id of the project left (None: there was none)."""
        left = self.project_id
        if left is None:
            return None
        _connections[left] -= 1
        self.project_id = None
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

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(settings.HEARTBEAT_INTERVAL_S)
            if self.project_id is not None:  # renew the membership before the layer's group expiry drops it
                await self.channel_layer.group_add(events.group_name(self.project_id), self.channel_name)
            data = events.heartbeat_data(project_id=self.project_id, connections=_connections[self.project_id])
            await self.send_json(events.envelope(events.HEARTBEAT, data))


class UnknownPathConsumer(AsyncJsonWebsocketConsumer):
    """Any other WebSocket path: says which ones exist and closes, instead of failing the handshake."""

    async def connect(self) -> None:
        await self.accept()
        detail = f"No WebSocket endpoint at {self.scope['path']}; use /ws/projects/<project_id> or /ws."
        await self.send_json(events.envelope(events.ERROR, {"detail": detail}))
        await self.close(code=CLOSE_NOT_FOUND)
