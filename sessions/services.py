"""Vibecode sessions: one per project and key (global, or one agent's node), with both agents' memories."""

from django.db import IntegrityError, transaction

from projects.models import Project
from projects.selectors import project_nodes
from sessions.models import VibecodeSession
from sessions.runs import run_in_progress
from sessions.vibecoder.memory import memory_clear, memory_open
from vibegrapher.errors import Conflict, InvalidInput


def session_key(*, project: Project, node_id: str | None) -> str:
    return f"project_{project.slug}_node_{node_id}" if node_id else f"project_{project.slug}"


def session_get_or_create(
    *, project: Project, session_type: str | None, node_id: str | None
) -> tuple[VibecodeSession, bool]:
    """The project's session for that key, created when missing. Returns (session, created)."""
    session_type = session_type or (VibecodeSession.SessionType.NODE if node_id else VibecodeSession.SessionType.GLOBAL)
    if session_type == VibecodeSession.SessionType.GLOBAL and node_id:
        raise InvalidInput(
            "A global session has no node_id; use session_type 'node'.",
            errors={"node_id": ["Not allowed for a global session."]},
        )
    if session_type == VibecodeSession.SessionType.NODE:
        if not node_id:
            raise InvalidInput("A node session needs a node_id.", errors={"node_id": ["This field is required."]})
        known = [node["id"] for node in project_nodes(project=project)]
        if node_id not in known:
            raise InvalidInput(
                f"Node {node_id!r} is not an agent of this workflow; known nodes: {', '.join(known) or 'none'}.",
                errors={"node_id": ["Unknown node."]},
            )
    key = session_key(project=project, node_id=node_id)
    defaults = {
        "session_type": session_type,
        "node_id": node_id,
    }
    try:
        with transaction.atomic():
            session, created = VibecodeSession.objects.get_or_create(
                project=project, openai_session_key=key, defaults=defaults
            )
    except IntegrityError:  # created by a concurrent request between the get and the insert
        return VibecodeSession.objects.get(project=project, openai_session_key=key), False
    if created:  # create both memories now, so the first run does not pay for it
        for memory_key in (session.openai_session_key, session.evaluator_session_key):
            memory_open(db_path=session.conversations_db_path, key=memory_key)
    return session, created


def session_delete(*, session: VibecodeSession) -> None:
    """Delete the session and its messages, and clear both agents' memories. Its diffs stay, without a
    session: committed ones record what was committed, and pending ones can still be reviewed."""
    if run_in_progress(session_id=session.id):
        raise Conflict("A vibecode run is in progress in this session; wait for it to finish before deleting it.")
    db_path, keys = session.conversations_db_path, [session.openai_session_key, session.evaluator_session_key]
    try:
        with transaction.atomic():
            session.delete()
    except IntegrityError:  # a run started in it between the check and the delete
        raise Conflict(
            "A vibecode run started in this session while it was being deleted; wait for it to finish."
        ) from None
    for key in keys:
        memory_clear(db_path=db_path, key=key)
