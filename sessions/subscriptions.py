"""One client's subscription to a project's events, whatever carries them (raw WebSocket, Socket.IO).

It checks the project, replays what the client missed (`after`), and sends live events in seq order
without gaps: a seq that overtakes others (events from several processes, or a broadcast the channel
layer dropped or failed) is sent after the missing ones, read from the database.
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from projects.models import Project
from sessions import events

AFTER_LATEST = "latest"
_MAX_SEQ = 2**63 - 1

# Connections per project on this instance (None: all), for the heartbeat.
connections: Counter[str | None] = Counter()


class SubscribeRefused(Exception):
    """The client's subscribe cannot be honoured; the message says why (sent as an `error` event)."""


class Subscription:
    """`send(event)` gets every event as `{"type", "data"}`, stored ones with their `"seq"`."""

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.send = send
        self.project_id: str | None = None
        # Every stored event of the project up to this seq has been sent (or predates the subscription).
        self.sent_upto = 0

    @staticmethod
    async def project_checked(project_id: Any, after: Any) -> tuple[str, int | None]:
        """The project's id and the `after` seq (None: no replay); raises SubscribeRefused."""
        if project_id in (None, ""):
            raise SubscribeRefused('Subscribe needs a "project_id": the id of a project.')
        try:
            project_uuid = uuid.UUID(str(project_id))
        except ValueError:
            raise SubscribeRefused(f"Project {project_id!r} not found: project ids are UUIDs.") from None
        try:
            after_seq = int(after) if after not in (None, "", AFTER_LATEST) else None
        except (TypeError, ValueError):
            raise SubscribeRefused(
                f'"after" must be an event sequence number or "{AFTER_LATEST}", not {after!r}.'
            ) from None
        if after_seq is not None:
            after_seq = max(0, min(after_seq, _MAX_SEQ))  # beyond any stored seq; keeps the query in BIGINT range
        if not await Project.objects.filter(pk=project_uuid).aexists():
            raise SubscribeRefused(f"Project {project_id} not found.")
        return str(project_uuid), after_seq

    async def heartbeats(self, *, rejoin: Callable[[str], Awaitable[Any]]) -> None:
        """Every HEARTBEAT_INTERVAL_S, until cancelled: `rejoin(group)` renews the membership of the
        project's group before the layer's group expiry drops it, then `heartbeat` is sent."""
        while True:
            await asyncio.sleep(settings.HEARTBEAT_INTERVAL_S)
            project_id = self.project_id
            if project_id is not None:
                await rejoin(events.group_name(project_id))
            data = events.heartbeat_data(project_id=project_id, connections=connections[project_id])
            await self.send(events.envelope(events.HEARTBEAT, data))

    def start(self, project_id: str) -> None:
        """Call before joining the project's group."""
        self.project_id = project_id
        connections[project_id] += 1

    async def catch_up(self, after_seq: int | None) -> None:
        """Call once joined to the group (so nothing falls in between): replays the stored events after
        `after_seq` (None: none)."""
        assert self.project_id is not None
        latest = await sync_to_async(events.event_seq_latest)(project_id=self.project_id)
        self.sent_upto = latest if after_seq is None else min(after_seq, latest)
        if self.sent_upto < latest:
            await self._send_stored(upto=latest)

    def stop(self) -> str | None:
        """Forget the project (the caller leaves its group); returns its id (None: there was none)."""
        left, self.project_id = self.project_id, None
        if left is not None:
            connections[left] -= 1
        return left

    async def project_event(self, message: dict) -> None:
        """A `project.event` channel-layer message."""
        if self.project_id is None or message.get("group") != events.group_name(self.project_id):
            return  # sent to a project this client has left since (its seq numbers are another project's)
        event = message["event"]
        seq = event.get("seq")
        if seq is None:  # not stored (message_delta): sent as it comes
            await self.send(event)
            return
        if seq <= self.sent_upto:
            return  # already sent (replayed, or read from the database to fill a gap)
        if seq > self.sent_upto + 1:
            await self._send_stored(upto=seq - 1)  # committed before this one: it is in the database
        await self.send(event)
        self.sent_upto = seq

    async def _send_stored(self, *, upto: int) -> None:
        """Send the stored events after `sent_upto` up to seq `upto`, in order, a page at a time."""
        project_id = self.project_id
        while project_id is not None and self.sent_upto < upto:
            page = await sync_to_async(events.events_after)(
                project_id=project_id, after=self.sent_upto, upto=upto, limit=events.REPLAY_PAGE
            )
            if not page:
                self.sent_upto = upto  # numbers of events that were never stored: nothing to send
                return
            for event in page:
                await self.send(event)
                self.sent_upto = event["seq"]
