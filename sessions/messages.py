"""Conversation messages: each stored under its session's next sequence number, and broadcast."""

from django.db import transaction

from sessions import events
from sessions.models import ConversationMessage, VibecodeSession
from vibegrapher.counters import counter_advance
from vibegrapher.storable import without_nul


def message_create(*, session_id, **fields) -> ConversationMessage:
    """Store a message under the session's next sequence number."""
    fields = {name: without_nul(value) for name, value in fields.items()}
    # No savepoint inside a caller's transaction: no caller recovers from a failure half-way.
    with transaction.atomic(savepoint=False):
        sequence = counter_advance(model=VibecodeSession, pk=session_id, field="message_seq")
        return ConversationMessage.objects.create(session_id=session_id, sequence=sequence, **fields)


def message_record(*, session_id, project_id, **fields) -> ConversationMessage:
    """Store a message and broadcast it (`conversation_message`, plus `token_usage` when it has usage).
    A run's steps go through `runs.step_record`, which also checks that the run still holds its session."""
    with transaction.atomic(savepoint=False):
        message = message_create(session_id=session_id, **fields)
        published = [(events.CONVERSATION_MESSAGE, events.conversation_message_data(message))]
        if message.token_usage:
            published.append((events.TOKEN_USAGE, events.token_usage_data(message)))
        events.events_publish(project_id=project_id, events=published)
    return message
