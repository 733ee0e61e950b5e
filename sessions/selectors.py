from uuid import UUID

from sessions.models import ConversationMessage, VibecodeRun, VibecodeSession
from vibegrapher.errors import NotFound


def session_get(*, session_id: UUID | str) -> VibecodeSession:
    try:
        return VibecodeSession.objects.select_related("project").get(pk=session_id)
    except (VibecodeSession.DoesNotExist, ValueError) as exc:
        raise NotFound(f"Session {session_id} not found.") from exc


def session_list(*, project_id: UUID | str) -> list[VibecodeSession]:
    return list(VibecodeSession.objects.filter(project_id=project_id).order_by("created_at"))


def message_list(*, session_id: UUID | str) -> list[ConversationMessage]:
    return list(ConversationMessage.objects.filter(session_id=session_id).order_by("sequence"))


def message_get(*, message_id: UUID | str) -> ConversationMessage:
    try:
        return ConversationMessage.objects.get(pk=message_id)
    except (ConversationMessage.DoesNotExist, ValueError) as exc:
        raise NotFound(f"Message {message_id} not found.") from exc


def run_active(*, session_id: UUID | str) -> VibecodeRun | None:
    return VibecodeRun.objects.filter(session_id=session_id, status__in=VibecodeRun.ACTIVE).first()
