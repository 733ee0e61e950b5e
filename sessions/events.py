"""Every real-time event: group names, payload shapes, storage for replay, and the broadcast.

Events are stored with a per-project sequence number before they are sent, so a client that
reconnects with `?after=<seq>` can be given exactly what it missed.
"""

import asyncio
import json
import logging
import weakref
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from redis import Redis
from redis.exceptions import RedisError

from projects.models import Project
from sessions.models import ConversationMessage, ProjectEvent, VibecodeRun
from sessions.serializers import ERROR_KINDS, RESULT_STATUSES, ConversationMessageSerializer
from sessions.vibecoder.tokens import TokenTotals
from vibegrapher.counters import counter_advance
from vibegrapher.storable import without_nul

logger = logging.getLogger(__name__)

CONVERSATION_MESSAGE = "conversation_message"
MESSAGE_DELTA = "message_delta"
TOKEN_USAGE = "token_usage"
DIFF_CREATED = "diff_created"
VIBECODE_RESPONSE = "vibecode_response"
RUN_STATUS = "run_status"
CODE_CHANGED = "code_changed"
TEST_COMPLETED = "test_completed"
PLAYGROUND_EVENT = "playground_event"
HEARTBEAT = "heartbeat"
SUBSCRIBED = "subscribed"
ERROR = "error"


def group_name(project_id: UUID | str) -> str:
    return f"project_{UUID(str(project_id)).hex}"


# Between processes, not for clients: `vibecode_worker`s listen for queued runs, and whoever waits
# for a run executed elsewhere listens for its end.
RUNS_QUEUED_GROUP = "vibecode_runs_queued"


def run_group(run_id: UUID | str) -> str:
    return f"vibecode_run_{UUID(str(run_id)).hex}"


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """JSON types only (ids and times as strings), so every channel layer can carry it, and no NUL
    characters, so every database can store it."""
    text = json.dumps(data, cls=DjangoJSONEncoder)
    plain = json.loads(text)
    return without_nul(plain) if "\\u0000" in text else plain


def envelope(event_type: str, data: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": event_type, "data": data}
    if seq is not None:
        message["seq"] = seq
    return message


def event_publish(*, project_id: UUID | str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Store the event under the project's next sequence number; send it once the transaction commits."""
    return events_publish(project_id=project_id, events=[(event_type, data)])[0]


def events_publish(*, project_id: UUID | str, events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Store several events under consecutive sequence numbers in one transaction; send them, in
    order, once it commits."""
    payloads = [(event_type, _plain(data)) for event_type, data in events]
    with transaction.atomic(savepoint=False):
        last = counter_advance(model=Project, pk=project_id, field="event_seq", by=len(payloads))
        first = last - len(payloads) + 1
        ProjectEvent.objects.bulk_create(
            ProjectEvent(project_id=project_id, seq=first + index, type=event_type, data=data)
            for index, (event_type, data) in enumerate(payloads)
        )
        messages = [envelope(event_type, data, first + index) for index, (event_type, data) in enumerate(payloads)]
        transaction.on_commit(lambda: _send(group_name(project_id), messages))
    return messages


class _Sender:
    """One per event loop: sends queued events to the channel layer one after another, so a
    project's events leave this process in the order they were committed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.queue: asyncio.Queue[tuple[str, list[dict[str, Any]]]] = asyncio.Queue()
        self.task = loop.create_task(self._run(), name="event-sender")

    async def _run(self) -> None:
        layer = get_channel_layer()
        while True:
            group, messages = await self.queue.get()
            for message in messages:
                try:
                    await layer.group_send(group, message)
                except Exception as exc:  # noqa: BLE001  (the sender must outlive any layer failure)
                    # The event is stored: subscribers get it by gap filling from the next event that
                    # arrives, or by replay when they reconnect. The next events are still sent.
                    event = message.get("event", {})
                    logger.error(
                        "Could not broadcast %s event seq %s to %s: %r",
                        event.get("type", message.get("type")),
                        event.get("seq"),
                        group,
                        exc,
                    )


_senders: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sender]" = weakref.WeakKeyDictionary()


def _enqueue(loop: asyncio.AbstractEventLoop, group: str, messages: list[dict[str, Any]]) -> None:
    sender = _senders.get(loop)
    if sender is None or sender.task.done():
        sender = _senders[loop] = _Sender(loop)
    sender.queue.put_nowait((group, messages))


def _send(group: str, messages: list[dict[str, Any]]) -> None:
    """Hand the events to this process's event loop without waiting for the channel layer."""
    _layer_send(group, [{"type": "project.event", "group": group, "event": message} for message in messages])


def unstored_event_send(*, project_id: UUID | str, event_type: str, data: dict[str, Any]) -> None:
    """Send a project event to the project's clients without storing it: it has no `seq` and is never
    replayed (a `message_delta` is superseded by its step's stored `conversation_message`). `data` must
    hold JSON types only. Call it from the event loop or from sync_to_async code."""
    group = group_name(project_id)
    _layer_send(group, [{"type": "project.event", "group": group, "event": envelope(event_type, data)}])


def signal_send(*, group: str, message: dict[str, Any]) -> None:
    """Send a channel-layer message that is not a project event (nothing stored, nothing replayed):
    a nudge between processes, e.g. "a run is queued". Call it once what it tells about is committed;
    the layer may drop it (a full channel), so receivers must also find out without it."""
    _layer_send(group, [message])


def _layer_send(group: str, messages: list[dict[str, Any]]) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        main_loop: asyncio.AbstractEventLoop | None = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
        if main_loop is not None and main_loop.is_running():  # inside sync_to_async
            main_loop.call_soon_threadsafe(_enqueue, main_loop, group, messages)
            return
        # Plain synchronous caller (management command, WSGI admin): send before returning.
        async_to_sync(_send_now)(group, messages)
        return
    _enqueue(loop, group, messages)


async def _send_now(group: str, messages: list[dict[str, Any]]) -> None:
    layer = get_channel_layer()
    for message in messages:
        await layer.group_send(group, message)


REPLAY_PAGE = 1000


def channel_layer_status() -> str:
    """How live events travel between processes: "in-memory" (no REDIS_URL: within this process
    only), "ok" (Redis answers), or "unreachable: <why>" (no live events, no rate limit)."""
    if not settings.REDIS_URL:
        return "in-memory"
    client = Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except RedisError as exc:  # reported, not hidden: the health check exists to say this
        return f"unreachable: {exc}"
    finally:
        client.close()
    return "ok"


def events_after(
    *, project_id: UUID | str, after: int, upto: int | None = None, limit: int = REPLAY_PAGE
) -> list[dict[str, Any]]:
    """The project's stored events with `after < seq <= upto`, oldest first, at most `limit`."""
    rows = ProjectEvent.objects.filter(project_id=project_id, seq__gt=after)
    if upto is not None:
        rows = rows.filter(seq__lte=upto)
    return [envelope(row.type, row.data, row.seq) for row in rows.order_by("seq")[:limit]]


def event_seq_latest(*, project_id: UUID | str) -> int:
    """The seq of the project's latest stored event (0: none yet, or no such project)."""
    return Project.objects.filter(pk=project_id).values_list("event_seq", flat=True).first() or 0


# --- Payloads: the only place their shapes are defined -----------------------------------------


def conversation_message_data(message: ConversationMessage) -> dict[str, Any]:
    return {**ConversationMessageSerializer(message).data, "message_id": str(message.id)}


def message_delta_data(
    *,
    session_id: UUID | str,
    run_id: UUID | str | None,
    message_id: UUID | str,
    agent: str,
    iteration: int | None,
    kind: str,
    delta: str,
    index: int,
) -> dict[str, Any]:
    """Model output of a step still being written. `message_id` is the id its `conversation_message`
    will have; `index` counts the step's deltas from 0; `kind` is `text`, `reasoning` or `tool_arguments`."""
    return {
        "session_id": str(session_id),
        "run_id": str(run_id) if run_id else None,
        "message_id": str(message_id),
        "agent": agent,
        "iteration": iteration,
        "kind": kind,
        "delta": delta,
        "index": index,
    }


def token_usage_data(message: ConversationMessage) -> dict[str, Any]:
    return {
        "session_id": str(message.session_id),
        "message_id": str(message.id),
        "usage": message.token_usage,
        "timestamp": _iso(message.created_at),
    }


def diff_created_data(
    *, diff_id: UUID | str, session_id: UUID | str, commit_message: str, status: str, changes: list[dict]
) -> dict:
    """`changes` as `projects.graph.workflow_changes` gives them: which agents the diff adds, removes or changes."""
    return {
        "diff_id": str(diff_id),
        "session_id": str(session_id),
        "commit_message": commit_message,
        "status": status,
        "changes": changes,
    }


def vibecode_result_data(
    run: VibecodeRun,
    *,
    status: str,
    token_usage: TokenTotals | None,
    content: str | None = None,
    diff_id: UUID | str | None = None,
    commit_message: str | None = None,
    evaluator_reasoning: str | None = None,
    final_feedback: str | None = None,
    error: str | None = None,
    error_kind: str | None = None,
) -> dict[str, Any]:
    """A run's result: the `vibecode_response` event, the REST answer (stored on the run) and the 202
    body (`processing`, `token_usage` null). Every field is always present, null when it does not
    apply; `VibecodeResultSerializer` documents the same fields. `error_kind` says why a `failed` run
    failed: "provider" (answered 502), "limit", "internal" or "interrupted"."""
    if status not in RESULT_STATUSES:
        raise ValueError(f"Unknown vibecode result status {status!r}")
    if (error_kind is not None) != (status == "failed") or error_kind not in (None, *ERROR_KINDS):
        raise ValueError(f"A {status!r} result cannot have error_kind {error_kind!r}")
    return {
        "status": status,
        "session_id": str(run.session_id),
        "message_id": run.message_id,
        "trace_id": run.trace_id,
        "content": content,
        "diff_id": str(diff_id) if diff_id else None,
        "commit_message": commit_message,
        "evaluator_reasoning": evaluator_reasoning,
        "final_feedback": final_feedback,
        "token_usage": token_usage.as_dict() if token_usage is not None else None,
        "error": error,
        "error_kind": error_kind,
    }


def code_changed_data(*, project_id: UUID | str, new_code: str, commit_sha: str, diff_id: UUID | str | None) -> dict:
    return {
        "project_id": str(project_id),
        "new_code": new_code,
        "commit_sha": commit_sha,
        "diff_id": str(diff_id) if diff_id else None,
    }


def test_completed_data(
    *, diff_id: UUID | str | None, test_id: UUID | str, test_name: str, status: str, output: str
) -> dict[str, Any]:
    return {
        "diff_id": str(diff_id) if diff_id else None,
        "test_id": str(test_id),
        "test_name": test_name,
        "status": status,
        "output": output,
    }


def playground_event_data(*, run_id: UUID | str, diff_id: UUID | str | None, step: dict[str, Any]) -> dict[str, Any]:
    """One step of a playground run as it happens: `{run_id, diff_id, index, agent, kind, ...}`, `kind` being
    `message` (`content`), `tool_call` (`tool`, `arguments`, `output`) or `handoff` (`to`)."""
    return {"run_id": str(run_id), "diff_id": str(diff_id) if diff_id else None, **_plain(step)}


def heartbeat_data(*, project_id: UUID | str | None, connections: int) -> dict[str, Any]:
    return {
        "server_time": _iso(datetime.now(UTC)),
        "project_id": str(project_id) if project_id else None,
        "status": "alive",
        "connections": connections,
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
