"""The evaluator suggests a better commit message for a diff. Nothing is changed: the client sends the
message it likes with the commit. The model call is logged, stored and broadcast like every other one."""

import uuid

from agents import Runner
from asgiref.sync import sync_to_async
from django.conf import settings

from diffs.models import Diff
from sessions.models import ConversationMessage
from sessions.vibecoder.agent_definitions import CommitMessage, commit_message_agent
from sessions.vibecoder.loop import PROVIDER_ERRORS, RunScope, StepRecorder, run_config
from sessions.vibecoder.prompts import commit_message_request
from sessions.vibecoder.provider import provider_error_text, provider_require
from vibegrapher.errors import Conflict, ProviderFailed

REFINABLE = (Diff.Status.EVALUATOR_APPROVED, Diff.Status.HUMAN_APPROVED)


async def commit_message_refine(*, diff: Diff, hint: str | None, current_message: str | None) -> dict:
    """`{diff_id, original_message, refined_message}`; 503 without a provider, 502 when it fails."""
    provider_require()
    if diff.status not in REFINABLE:
        raise Conflict(
            f"Diff {diff.id} is {diff.status}; only diffs that are not yet committed or rejected get a new message."
        )
    if diff.session_id is None:
        raise Conflict(
            f"Diff {diff.id} has no session any more (it was deleted), and the evaluator's answer is stored in one."
        )
    original = (current_message or "").strip() or diff.commit_message
    scope = RunScope(
        run_id=f"refine-message-{diff.id}",
        session_id=str(diff.session_id),
        project_id=str(diff.project_id),
        node_id=None,
        prompt=hint or "",
        trace_id=f"trace_{uuid.uuid4().hex}",
        base_code="",
        base_commit=diff.base_commit,
        memory_path="",
        memory_key="",
        evaluator_key="",
        is_run=False,
    )
    try:
        result = await Runner.run(
            commit_message_agent(),
            commit_message_request(diff=diff.diff_content, current_message=original, hint=(hint or "").strip() or None),
            max_turns=2,
            hooks=StepRecorder(scope, agent="evaluator", model=settings.EVALUATOR_MODEL, iteration=None),
            run_config=run_config(scope, workflow_name="refine_commit_message"),
        )
    except PROVIDER_ERRORS as exc:
        raise ProviderFailed(provider_error_text(exc, task="refining the commit message")) from exc
    finally:
        if scope.step_messages:
            await sync_to_async(_link_to_diff)(messages=scope.step_messages, diff=diff)
    refined = result.final_output_as(CommitMessage, raise_if_incorrect_type=True).commit_message.strip()
    if not refined:
        raise ProviderFailed("The model answered with an empty commit message; try again.")
    return {"diff_id": diff.id, "original_message": original, "refined_message": refined}


def _link_to_diff(*, messages: list[ConversationMessage], diff: Diff) -> None:
    ConversationMessage.objects.filter(pk__in=[message.id for message in messages]).update(diff_id=diff.id)
