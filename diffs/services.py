import logging
import re
from uuid import UUID

from django.db import transaction

from diffs.models import Diff
from diffs.selectors import diff_base_code
from projects import repository
from projects.graph import workflow_changes
from projects.services import main_change
from sessions import events, messages, runs
from sessions.models import ConversationMessage, VibecodeRun
from sessions.vibecoder.memory import memory_clear
from sessions.vibecoder.prompts import human_rejection_request
from sessions.vibecoder.provider import NOT_CONFIGURED, provider_configured
from testcases.gate import gate_attach
from vibegrapher.errors import Conflict
from vibegrapher.storable import without_nul

logger = logging.getLogger(__name__)

DEFAULT_COMMIT_MESSAGE = "Update workflow.py"
# Trailers are added by the server; the same keys typed into a message would be taken for them.
_OWN_TRAILER_RE = re.compile(r"^Vibegrapher-[A-Za-z]+:.*$\n?", re.MULTILINE)


def diff_create_proposed(
    *,
    run_id: UUID | str | None = None,
    session_id: UUID | str,
    project_id: UUID | str,
    base_commit: str,
    diff_content: str,
    new_code: str,
    vibecoder_prompt: str,
    evaluator_reasoning: str,
    commit_message: str,
    messages: list[UUID],
    gate_run_ids: list[UUID] | None = None,
    base_code: str | None = None,
) -> Diff:
    """Store an evaluator-approved diff, link the round's messages (and the quick-test gate's runs, as its
    cached test results) to it, and broadcast `diff_created`. `base_code` is the file at `base_commit`
    when the caller has it already (read from git otherwise)."""
    # The evaluator's words come from a model; the code compiled, so it holds no NUL.
    evaluator_reasoning, commit_message = without_nul(evaluator_reasoning), without_nul(commit_message)
    if base_code is None:
        base_code = diff_base_code(project_id=project_id, base_commit=base_commit)
    changes = workflow_changes(before=base_code, after=new_code)
    with transaction.atomic():
        if run_id is not None:
            runs.run_hold(run_id=run_id)
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
                diff_id=diff.id,
                session_id=session_id,
                commit_message=commit_message,
                status=diff.status,
                changes=changes,
            ),
        )
        if gate_run_ids:
            gate_attach(diff=diff, run_ids=gate_run_ids)
    return diff


def _not_waiting(diff: Diff, action: str) -> Conflict:
    return Conflict(
        f"Diff {diff.id} cannot be {action}: it is {diff.status}, and only evaluator_approved diffs wait for review."
    )


def _review(*, diff: Diff, status: str, feedback: str | None, action: str) -> Diff:
    """Move a diff out of `evaluator_approved`; a conditional update, so two reviews never both succeed."""
    moved = Diff.objects.filter(pk=diff.pk, status=Diff.Status.EVALUATOR_APPROVED).update(
        status=status, human_feedback=feedback
    )
    diff.refresh_from_db()
    if not moved:
        raise _not_waiting(diff, action)
    return diff


def diff_approve(*, diff: Diff, feedback: str | None = None) -> Diff:
    """evaluator_approved -> human_approved; a comment given with the approval is kept as human_feedback."""
    return _review(
        diff=diff, status=Diff.Status.HUMAN_APPROVED, feedback=(feedback or "").strip() or None, action="approved"
    )


def diff_reject(*, diff: Diff, feedback: str | None) -> tuple[Diff, VibecodeRun | None]:
    """evaluator_approved -> human_rejected, and a new vibecode run stored in the same session whose request
    is the feedback and the rejected change, in one transaction. Returns the diff and the run, which the
    caller dispatches.

    While a run is in progress in the session the rejection is refused (409, the diff still waits for
    review): it could not start its round. Without a model provider the rejection stands and a system
    message in the session says why no run started; a diff whose session was deleted starts none.
    """
    feedback = (feedback or "").strip() or None
    with transaction.atomic():
        diff = _review(diff=diff, status=Diff.Status.HUMAN_REJECTED, feedback=feedback, action="rejected")
        session = diff.session
        if session is None:  # the session was deleted: there is no conversation to continue
            logger.info("Diff %s was rejected; its session was deleted, so no new vibecode run starts", diff.id)
            return diff, None
        if not provider_configured():
            _rerun_skipped(diff=diff, reason=NOT_CONFIGURED)
            return diff, None
        prompt = human_rejection_request(
            feedback=feedback, diff=diff.diff_content, original_prompt=diff.vibecoder_prompt
        )
        try:
            # SPEC section 5: the human's feedback is the new round's request; the vibecoder also sees the
            # rejected change and the original request.
            run, _ = runs.run_start(
                session=session,
                prompt=prompt,
                client_message_id=None,
                request_text=feedback or REJECTED_WITHOUT_FEEDBACK,
            )
        except Conflict:
            raise Conflict(
                f"Diff {diff.id} cannot be rejected while a vibecode run is in progress in its session: the "
                "rejection starts a new round there. Reject it again when the run has finished."
            ) from None
    return diff, run


REJECTED_WITHOUT_FEEDBACK = "Rejected without feedback."


def _rerun_skipped(*, diff: Diff, reason: str) -> None:
    logger.warning("Diff %s was rejected; no new vibecode run started: %s", diff.id, reason)
    assert diff.session_id is not None, "only called for a diff whose session exists"
    messages.message_record(
        session_id=diff.session_id,
        project_id=diff.project_id,
        role=ConversationMessage.Role.SYSTEM,
        agent=ConversationMessage.Agent.SYSTEM,
        content=f"Diff {diff.id} was rejected, but no new vibecode run was started: {reason}",
        diff_id=diff.id,
    )


def _message_text(message: str) -> str:
    return _OWN_TRAILER_RE.sub("", message).strip() or DEFAULT_COMMIT_MESSAGE


def commit_message_with_trailers(*, message: str, diff: Diff) -> str:
    """The message, a blank line, and the trailers that tie the commit to its diff and session."""
    trailers = f"Vibegrapher-Diff: {diff.id}\n"
    if diff.session_id is not None:
        trailers += f"Vibegrapher-Session: {diff.session_id}\n"
    return f"{_message_text(message)}\n\n{trailers}"


def diff_commit(*, diff: Diff, message: str | None = None) -> Diff:
    """Commit a human-approved diff on main (three-way merged when main has moved since its base).

    Updates the project, marks the diff committed, broadcasts `code_changed` and, once that is stored,
    clears the evaluator's memory of the session (the vibecoder keeps its history).
    """
    with main_change(project_id=diff.project_id) as change:
        # Only the diff's row: its session may be gone (a nullable join, which PostgreSQL cannot lock).
        diff = Diff.objects.select_for_update(of=("self",)).select_related("session").get(pk=diff.pk)
        if diff.status != Diff.Status.HUMAN_APPROVED:
            raise Conflict(
                f"Diff {diff.id} cannot be committed: it is {diff.status}, and only human_approved diffs can be."
            )
        code = diff.new_code
        if change.head.sha != diff.base_commit:
            try:
                code = repository.repository_merge(path=change.path, base_sha=diff.base_commit, new_code=diff.new_code)
            except repository.MergeConflictError as exc:
                raise Conflict(
                    f"Base commit mismatch: diff {diff.id} was made on {diff.base_commit[:12]}, main is now at "
                    f"{change.head.sha[:12]}, and the change conflicts with what was committed since. Nothing was changed."
                ) from exc
            if code == change.head.code:
                raise Conflict(
                    f"Diff {diff.id} changes nothing on top of main ({change.head.sha[:12]}): its change is already there."
                )
        head = change.commit(
            code=code,
            message=commit_message_with_trailers(message=message or diff.commit_message, diff=diff),
            diff_id=diff.id,
        )
        diff.status, diff.committed_sha = Diff.Status.COMMITTED, head.sha
        if message:
            diff.commit_message = _message_text(message)
        diff.save(update_fields=["status", "committed_sha", "commit_message", "updated_at"])
        session = diff.session
        if session is not None:  # a deleted session's memories were cleared with it
            transaction.on_commit(
                lambda: memory_clear(db_path=session.conversations_db_path, key=session.evaluator_session_key),
                robust=True,
            )
    return diff
