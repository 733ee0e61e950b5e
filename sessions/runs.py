"""The lifecycle of a vibecode run: started (queued) with the user's message, claimed by an executor,
held by each stored step, finished with its result; runs whose process is gone are marked interrupted
(at boot for this instance's earlier boots, by the reaper for any instance)."""

import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from sessions import events
from sessions.messages import message_create, message_record
from sessions.models import ConversationMessage, VibecodeRun, VibecodeSession
from sessions.vibecoder.tokens import TokenTotals
from vibegrapher.errors import Conflict, NotFound
from vibegrapher.storable import without_nul


def run_start(
    *, session: VibecodeSession, prompt: str, client_message_id: str | None, request_text: str | None = None
) -> tuple[VibecodeRun, bool]:
    """Store the user's message and a queued run. Returns (run, created); an earlier run with the same
    client message id is returned instead of starting a new one. The message shows `request_text`
    when given (what the person asked), while the vibecoder is given `prompt`."""
    if client_message_id:
        earlier = _run_known_by(session=session, message_id=client_message_id)
        if earlier is not None:
            return earlier, False
    if run_in_progress(session_id=session.id):
        raise Conflict("A vibecode run is already in progress in this session; wait for its result.")
    trace_id = f"trace_{uuid.uuid4().hex}"
    project = session.project
    try:
        with transaction.atomic():
            message = message_create(
                session_id=session.id,
                role=ConversationMessage.Role.USER,
                agent=ConversationMessage.Agent.USER,
                content=prompt if request_text is None else request_text,
                trace_id=trace_id,
            )
            run = VibecodeRun.objects.create(
                session=session,
                user_message=message,
                client_message_id=client_message_id or None,
                prompt=prompt,
                trace_id=trace_id,
                base_commit=project.current_commit,
            )
            events.event_publish(
                project_id=project.id,
                event_type=events.CONVERSATION_MESSAGE,
                data=events.conversation_message_data(message),
            )
    except VibecodeSession.DoesNotExist:  # deleted since the request read it (its message counter is gone)
        raise NotFound(f"Session {session.id} not found.") from None
    except IntegrityError:
        # A concurrent request won the race: same client message id, or another run just started; or
        # the session was deleted meanwhile.
        if not VibecodeSession.objects.filter(pk=session.id).exists():
            raise NotFound(f"Session {session.id} not found.") from None
        if client_message_id:
            earlier = _run_known_by(session=session, message_id=client_message_id)
            if earlier is not None:
                return earlier, False
        raise Conflict("A vibecode run is already in progress in this session; wait for its result.") from None
    return run, True


def _run_known_by(*, session: VibecodeSession, message_id: str) -> VibecodeRun | None:
    """The session's run that a client knows by `message_id`: the client's own key, or, for a run
    started without one, the id of its user message (the `message_id` its result and 202 gave)."""
    known_by = Q(client_message_id=message_id)
    try:
        known_by |= Q(client_message_id__isnull=True, user_message_id=uuid.UUID(message_id))
    except ValueError:
        pass  # not a UUID, so not a message id of ours: only a client's key can match
    return VibecodeRun.objects.filter(known_by, session=session).first()


def run_claim(*, run_id, worker: str) -> bool:
    """Mark a queued run as running by `worker`; False when someone else has it."""
    now = timezone.now()
    return bool(
        VibecodeRun.objects.filter(pk=run_id, status=VibecodeRun.Status.QUEUED).update(
            status=VibecodeRun.Status.RUNNING, worker=worker, started_at=now, heartbeat_at=now
        )
    )


def run_finish(*, run: VibecodeRun, status: str, result: dict) -> VibecodeRun:
    """Store the outcome and broadcast `vibecode_response`."""
    result = without_nul(result)
    with transaction.atomic():
        finished_at = timezone.now()
        if not VibecodeRun.objects.filter(pk=run.pk, status__in=VibecodeRun.ACTIVE).update(
            status=status, result=result, finished_at=finished_at
        ):
            raise RunLost(f"Vibecode run {run.pk} was already ended (interrupted) when it finished.")
        run.status, run.result, run.finished_at = status, result, finished_at
        events.event_publish(project_id=run.session.project_id, event_type=events.VIBECODE_RESPONSE, data=result)
    events.signal_send(group=events.run_group(run.id), message={"type": "run.finished", "run_id": str(run.id)})
    return run


class RunLost(Exception):
    """The run no longer holds its session: it was marked interrupted because its heartbeat stopped
    (a stalled or paused process), and the session may already be running another request."""


def run_hold(*, run_id) -> None:
    """In the transaction that stores a step of the run: renew its heartbeat, or raise RunLost when it
    is no longer running, so a run that was given up on never writes into its session again."""
    if not VibecodeRun.objects.filter(pk=run_id, status=VibecodeRun.Status.RUNNING).update(heartbeat_at=timezone.now()):
        raise RunLost(f"Vibecode run {run_id} is no longer running; its step was not stored.")


def step_record(*, run_id, session_id, project_id, **fields) -> ConversationMessage:
    """Store and broadcast a message of run `run_id` (a step, or its failure), only while the run still
    holds its session (see `run_hold`)."""
    with transaction.atomic():
        run_hold(run_id=run_id)
        return message_record(session_id=session_id, project_id=project_id, **fields)


def run_in_progress(*, session_id=None, project_id=None) -> bool:
    """Whether a run is active in the session (or project). Runs whose process stopped beating are
    marked interrupted first, so a crashed instance never leaves a session refusing requests."""
    scope = Q(session_id=session_id) if session_id is not None else Q(session__project_id=project_id)
    active = VibecodeRun.objects.filter(scope, status__in=VibecodeRun.ACTIVE)
    if not active.exists():
        return False
    runs_reap(scope=scope)
    return active.exists()


_this_boot: str | None = None  # the `worker` of this process once it executes runs (runs_recover_boot)


def runs_recover_boot(*, worker: str) -> int:
    """At the start of a process that executes runs, as `worker` ("<instance>/<boot id>"): mark every
    active run an earlier boot of the same instance left as `interrupted` now, not once its heartbeat
    is stale (no process runs them any more). Later reaps do the same. Returns how many."""
    global _this_boot
    _this_boot = worker
    return runs_reap()


def _instance_of(worker: str) -> str:
    return worker.rpartition("/")[0]


def boot_id(pid: int) -> str | None:
    """ "<pid>-<start time>" of a live process (its start in clock ticks since the kernel booted, from
    /proc), so a pid reused by a later process reads differently; None when there is no such process
    or no /proc to ask."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return f"{pid}-{stat.rpartition(')')[2].split()[19]}"


def _boot_gone(worker: str) -> bool:
    """Whether the process of `worker`, a boot of this process's instance (same machine or container,
    so the same /proc), has ended. A sibling process (uvicorn's other workers) is alive, so not gone."""
    boot = worker.rpartition("/")[2]
    pid, _, _ = boot.partition("-")
    if not pid.isdigit() or not Path("/proc/self/stat").exists():
        return False  # not a boot this process can check: the heartbeat decides
    return boot_id(int(pid)) != boot


def runs_reap(*, scope: Q | None = None) -> int:
    """Mark active runs (all, or those in `scope`) whose executing process stopped beating, or that an
    earlier boot of this process's instance owned, as `interrupted`, and say so (`vibecode_response`).
    Returns how many."""
    stale = timezone.now() - timedelta(seconds=settings.RUN_STALE_AFTER_S)
    reaped = 0
    dead = Q(created_at__lt=stale) & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))
    if _this_boot is not None and _instance_of(_this_boot):
        dead |= Q(worker__startswith=f"{_instance_of(_this_boot)}/") & ~Q(worker=_this_boot)
    candidates = VibecodeRun.objects.select_related("session").filter(dead, scope or Q(), status__in=VibecodeRun.ACTIVE)
    for run in candidates:
        earlier_boot = (
            _this_boot is not None
            and run.worker != _this_boot
            and _instance_of(run.worker) == _instance_of(_this_boot)
            and _boot_gone(run.worker)
        )
        if not earlier_boot and (run.heartbeat_at is not None and run.heartbeat_at >= stale or run.created_at >= stale):
            continue  # a sibling process of this instance runs it, and it is beating
        if not earlier_boot and run.status == VibecodeRun.Status.QUEUED and settings.VIBECODE_EXECUTOR == "worker":
            continue  # waiting for a free worker is not being dead
        result = events.vibecode_result_data(
            run,
            status="failed",
            token_usage=_stored_token_totals(session_id=run.session_id, trace_id=run.trace_id),
            error=(
                "The run was interrupted: the process executing it stopped. "
                "Send the request again with a new message_id."
            ),
            error_kind="interrupted",
        )
        with transaction.atomic():
            updated = VibecodeRun.objects.filter(pk=run.pk, status=run.status, heartbeat_at=run.heartbeat_at).update(
                status=VibecodeRun.Status.INTERRUPTED, result=result, finished_at=timezone.now()
            )
            if updated:
                # Told in the conversation too, as a failed run's reason is.
                message_record(
                    session_id=run.session_id,
                    project_id=run.session.project_id,
                    role=ConversationMessage.Role.SYSTEM,
                    agent=ConversationMessage.Agent.SYSTEM,
                    content=result["error"],
                    trace_id=run.trace_id,
                )
                events.event_publish(
                    project_id=run.session.project_id, event_type=events.VIBECODE_RESPONSE, data=result
                )
        if updated:
            events.signal_send(group=events.run_group(run.id), message={"type": "run.finished", "run_id": str(run.id)})
            reaped += 1
    return reaped


def _stored_token_totals(*, session_id, trace_id: str) -> TokenTotals:
    """A run's token totals from the steps it stored."""
    totals = TokenTotals()
    for usage in ConversationMessage.objects.filter(session_id=session_id, trace_id=trace_id).values_list(
        "token_usage", flat=True
    ):
        if isinstance(usage, dict):  # not the user's message or a system message
            totals.add(usage)
    return totals
