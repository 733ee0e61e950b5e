"""Every real-time event: group names, payload shapes, storage for replay, and the broadcast.

Events are stored with a per-project sequence number before they are sent, so a client that
reconnects with `?after=<seq>` can be given exactly what it missed.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F

from projects.models import Project
from sessions.models import ConversationMessage, ProjectEvent
from sessions.serializers import ConversationMessageSerializer

logger = logging.getLogger(__name__)

CONVERSATION_MESSAGE = "conversation_message"
TOKEN_USAGE = "token_usage"
DIFF_CREATED = "diff_created"
VIBECODE_RESPONSE = "vibecode_response"
RUN_STATUS = "run_status"
CODE_CHANGED = "code_changed"
TEST_COMPLETED = "test_completed"
HEARTBEAT = "heartbeat"
SUBSCRIBED = "subscribed"
ERROR = "error"


def group_name(project_id: UUID | str) -> str:
    return f"project_{UUID(str(project_id)).hex}"


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """JSON types only (ids and times as strings), so every channel layer can carry it."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def envelope(event_type: str, data: dict[str, Any], seq: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": event_type, "data": data}
    if seq is not None:
        message["seq"] = seq
    return message


def event_publish(*, project_id: UUID | str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Store the event under the project's next sequence number; send it once the transaction commits."""
    data = _plain(data)
    with transaction.atomic():
        Project.objects.filter(pk=project_id).update(event_seq=F("event_seq") + 1)
        seq = Project.objects.filter(pk=project_id).values_list("event_seq", flat=True).get()
        ProjectEvent.objects.create(project_id=project_id, seq=seq, type=event_type, data=data)
    message = envelope(event_type, data, seq)
    transaction.on_commit(lambda: _group_send(project_id, message))
    return message


def _group_send(project_id: UUID | str, message: dict[str, Any]) -> None:
    async_to_sync(get_channel_layer().group_send)(group_name(project_id), {"type": "project.event", "event": message})


aevent_publish = sync_to_async(event_publish)


def events_after(*, project_id: UUID | str, after: int, limit: int = 5000) -> list[dict[str, Any]]:
    rows = ProjectEvent.objects.filter(project_id=project_id, seq__gt=after).order_by("seq")[:limit]
    return [envelope(row.type, row.data, row.seq) for row in rows]


# --- Payloads: the only place their shapes are defined -----------------------------------------


def conversation_message_data(message: ConversationMessage) -> dict[str, Any]:
    return {**ConversationMessageSerializer(message).data, "message_id": str(message.id)}


def token_usage_data(message: ConversationMessage) -> dict[str, Any]:
    return {
        "session_id": str(message.session_id),
        "message_id": str(message.id),
        "usage": message.token_usage,
        "timestamp": _iso(message.created_at),
    }


def diff_created_data(*, diff_id: UUID | str, session_id: UUID | str, commit_message: str, status: str) -> dict:
    return {"diff_id": str(diff_id), "session_id": str(session_id), "commit_message": commit_message, "status": status}


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


def heartbeat_data(*, project_id: UUID | str | None, connections: int) -> dict[str, Any]:
    return {
        "server_time": _iso(datetime.now(UTC)),
        "project_id": str(project_id) if project_id else None,
        "status": "alive",
        "connections": connections,
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
