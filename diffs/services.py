from uuid import UUID

from django.db import transaction

from diffs.models import Diff
from sessions import events
from sessions.models import ConversationMessage


def diff_create_proposed(
    *,
    session_id: UUID | str,
    project_id: UUID | str,
    base_commit: str,
    diff_content: str,
    new_code: str,
    vibecoder_prompt: str,
    evaluator_reasoning: str,
    commit_message: str,
    messages: list[UUID],
) -> Diff:
    """Store an evaluator-approved diff, link the round's messages to it, and broadcast `diff_created`."""
    with transaction.atomic():
        diff = Diff.objects.create(
            session_id=session_id,
            project_id=project_id,
            base_commit=base_commit,
            diff_content=diff_content,
            new_code=new_code,
            vibecoder_prompt=vibecoder_prompt,
            evaluator_reasoning=evaluator_reasoning,
            commit_message=commit_message,
        )
        ConversationMessage.objects.filter(pk__in=messages).update(diff_id=diff.id)
        events.event_publish(
            project_id=project_id,
            event_type=events.DIFF_CREATED,
            data=events.diff_created_data(
                diff_id=diff.id, session_id=session_id, commit_message=commit_message, status=diff.status
            ),
        )
    return diff
