from uuid import UUID

from rest_framework.generics import get_object_or_404

from sessions.models import ConversationMessage, VibecodeSession


def session_get(*, session_id: UUID | str) -> VibecodeSession:
    return get_object_or_404(VibecodeSession.objects.select_related("project"), pk=session_id)


def session_list(*, project_id: UUID | str) -> list[VibecodeSession]:
    return list(VibecodeSession.objects.filter(project_id=project_id).select_related("project").order_by("created_at"))


def message_list(*, session_id: UUID | str) -> list[ConversationMessage]:
    return list(ConversationMessage.objects.filter(session_id=session_id).order_by("sequence"))  # type: ignore[misc]  # django-stubs: a str `<fk>_id` passes only when the FK is named after its model


def message_get(*, message_id: UUID | str) -> ConversationMessage:
    return get_object_or_404(ConversationMessage.objects, pk=message_id)
