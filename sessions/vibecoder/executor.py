"""Where runs execute: as tasks of the web process (`inline`, the default) or in `vibecode_worker`
processes (`worker`). Either way a run is a database record first, so it outlives any connection
and a dead process leaves it `interrupted`, never `running` forever.
"""

import asyncio
import contextvars
import logging
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

from projects import repository
from sessions import events, runs
from sessions.models import ConversationMessage, VibecodeRun
from sessions.vibecoder.loop import PROVIDER_ERRORS, RUN_LIMITS, RunScope, limit_error_text, vibecode
from sessions.vibecoder.provider import provider_error_text
from sessions.vibecoder.tokens import TokenTotals

logger = logging.getLogger(__name__)

# This process's boot identity, stored as the `worker` of each run it claims: "<instance>/<pid>-<start
# time>". A later boot of the same instance knows from it that the run's process is gone (runs_recover_boot).
INSTANCE = f"{settings.INSTANCE_NAME}/{runs.boot_id(os.getpid()) or f'{os.getpid()}-{uuid.uuid4().hex[:8]}'}"
_tasks: dict[str, "asyncio.Task[VibecodeRun | None]"] = {}
_reapers: set[asyncio.Task] = set()


def _claim(run_id: str) -> VibecodeRun | None:
    """Claim a queued run and read it with its session and project; None when another executor has it."""
    if not runs.run_claim(run_id=run_id, worker=INSTANCE):
        return None
    return VibecodeRun.objects.select_related("session__project").get(pk=run_id)


def _scope_for(run: VibecodeRun) -> RunScope:
    """What every step of the run shares. Blocking (reads git): call it through asyncio.to_thread."""
    session, project = run.session, run.session.project
    base_code = repository.repository_file_at(path=repository.repository_path(slug=project.slug), sha=run.base_commit)
    return RunScope(
        run_id=str(run.id),
        session_id=str(session.id),
        project_id=str(project.id),
        node_id=session.node_id,
        prompt=run.prompt,
        trace_id=run.trace_id,
        base_code=base_code,
        base_commit=run.base_commit,
        memory_path=session.conversations_db_path,
        memory_key=session.openai_session_key,
        evaluator_key=session.evaluator_session_key,
    )


async def _heartbeat(run_id: str) -> None:
    while True:
        await asyncio.sleep(settings.RUN_HEARTBEAT_S)
        try:
            await VibecodeRun.objects.filter(pk=run_id, status=VibecodeRun.Status.RUNNING).aupdate(
                heartbeat_at=timezone.now()
            )
        except DatabaseError:  # a beat missed; the run's own next write says whether the database is back
            logger.exception("Heartbeat of vibecode run %s failed", run_id)


async def _failure(scope: RunScope | None, run: VibecodeRun, error: str, kind: str) -> dict[str, Any]:
    """Record the reason in the conversation and give the failed result. `scope` is None when the run
    failed before its scope could be built (its base code could not be read)."""
    await sync_to_async(runs.step_record)(
        session_id=run.session_id,
        project_id=run.session.project_id,
        run_id=run.id,
        role=ConversationMessage.Role.SYSTEM,
        agent=ConversationMessage.Agent.SYSTEM,
        content=error,
        trace_id=run.trace_id,
    )
    totals = scope.totals if scope is not None else TokenTotals()
    return events.vibecode_result_data(run, status="failed", token_usage=totals, error=error, error_kind=kind)


async def run_execute(run_id: str) -> VibecodeRun | None:
    """Claim the run and execute it to the end; the outcome is always stored and broadcast. Returns
    the finished run, or None when another executor had claimed it."""
    run = await sync_to_async(_claim)(run_id)
    if run is None:
        return None
    try:
        return await _execute(run)
    except runs.RunLost:
        logger.warning(
            "Vibecode run %s was marked interrupted while it ran (its heartbeat had stopped); its outcome is dropped",
            run_id,
        )
        return await VibecodeRun.objects.aget(pk=run_id)


async def _execute(run: VibecodeRun) -> VibecodeRun:
    """Everything after the claim is in here, so whatever fails, the run ends `failed` with the reason."""
    run_id = str(run.id)
    scope: RunScope | None = None
    beat = asyncio.create_task(_heartbeat(run_id))
    try:
        try:
            scope = await asyncio.to_thread(_scope_for, run)  # pygit2: not in the shared database thread
        except repository.RepositoryError as exc:
            logger.error("Vibecode run %s: the base code cannot be read: %s", run_id, exc)
            result = await _failure(None, run, f"The run could not start: {exc}", "internal")
        else:
            result = await vibecode(run, scope)
    except runs.RunLost:
        raise
    except RUN_LIMITS as exc:
        result = await _failure(scope, run, limit_error_text(exc), "limit")
    except PROVIDER_ERRORS as exc:
        logger.warning("Vibecode run %s: model provider failed: %r", run_id, exc)
        result = await _failure(scope, run, provider_error_text(exc), "provider")
    except Exception as exc:
        # Recorded and broadcast so the user is told; the traceback goes to the log.
        logger.exception("Vibecode run %s failed unexpectedly", run_id)
        result = await _failure(scope, run, f"The run failed unexpectedly: {type(exc).__name__}: {exc}", "internal")
    finally:
        beat.cancel()
    status = VibecodeRun.Status.FAILED if result["status"] == "failed" else VibecodeRun.Status.FINISHED
    return await sync_to_async(runs.run_finish)(run=run, status=status, result=result)


def run_dispatch(run_id: str) -> None:
    """Start a stored run. In worker mode the workers are told a run is queued (they also poll, for
    when the message is lost or the layer does not reach them); otherwise it runs in this loop."""
    if settings.VIBECODE_EXECUTOR == "worker":
        events.signal_send(group=events.RUNS_QUEUED_GROUP, message={"type": "run.queued", "run_id": run_id})
        return
    loop = asyncio.get_running_loop()
    # A fresh context: the run must not inherit the request's (its sync executor ends with the request).
    task = loop.create_task(run_execute(run_id), name=f"vibecode-{run_id}", context=contextvars.Context())
    _tasks[run_id] = task
    task.add_done_callback(lambda _: _tasks.pop(run_id, None))
    _ensure_reaper(loop)


async def run_wait(run_id: str) -> VibecodeRun:
    """The finished run. Waiting never cancels it: a client that goes away loses nothing.

    A run of this process is awaited directly. One executed elsewhere (a worker, another instance)
    tells the run's group when it ends; the database is checked again on every message and, in case
    one is lost or the layer does not reach the executing process, every `RUN_WAIT_POLL_S`."""
    task = _tasks.get(run_id)
    if task is not None:
        finished = await asyncio.shield(task)
        if finished is not None:
            return finished
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(events.run_group(run_id), channel)  # before the first look: no message can slip by
    try:
        while True:
            run = await VibecodeRun.objects.aget(pk=run_id)
            if run.status not in VibecodeRun.ACTIVE:
                return run
            try:
                await asyncio.wait_for(layer.receive(channel), timeout=settings.RUN_WAIT_POLL_S)
            except TimeoutError:
                pass
    finally:
        await layer.group_discard(events.run_group(run_id), channel)


async def _reap_forever() -> None:
    while True:
        try:
            count = await sync_to_async(runs.runs_reap)()
        except DatabaseError:  # the database is away for a moment: try again at the next tick
            logger.exception(
                "Looking for interrupted vibecode runs failed; trying again in %g s", settings.RUN_HEARTBEAT_S
            )
        else:
            if count:
                logger.warning("Marked %d vibecode run(s) interrupted", count)
        await asyncio.sleep(settings.RUN_HEARTBEAT_S)


def boot_recover(*, executes_runs: bool) -> None:
    """At process start: runs an earlier boot of this instance left active are marked interrupted now.
    Only a process that executes runs claims them (a web process in `worker` mode does not), so only
    such a process may take the instance's earlier runs for dead. Part of the reaper's work: off with
    RUN_REAPER_ENABLED (as in the test process, which imports the application before its database exists)."""
    if not executes_runs or not settings.RUN_REAPER_ENABLED:
        return

    def recover() -> int:
        try:
            return runs.runs_recover_boot(worker=INSTANCE)
        finally:
            connections.close_all()  # this thread's own

    # In a thread of its own: uvicorn imports the application inside its running event loop.
    with ThreadPoolExecutor(1, thread_name_prefix="boot-recover") as pool:
        count = pool.submit(recover).result()
    if count:
        logger.warning("Marked %d vibecode run(s) of an earlier boot of %s interrupted", count, settings.INSTANCE_NAME)


def reaper_ensure() -> None:
    """Run the reaper in this process's event loop from its first request on, not only once it has
    dispatched a run: after a restart, runs the dead process left must be marked interrupted."""
    _ensure_reaper(asyncio.get_running_loop())


def _ensure_reaper(loop: asyncio.AbstractEventLoop) -> None:
    if not settings.RUN_REAPER_ENABLED:
        return
    if not any(task.get_loop() is loop and not task.done() for task in _reapers):
        task = loop.create_task(_reap_forever(), name="vibecode-reaper")
        _reapers.add(task)
        task.add_done_callback(_reapers.discard)
