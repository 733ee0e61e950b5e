"""A run left behind by a stopped process never blocks its session, and a run that was given up on
never writes into its session again (its process had only stalled)."""

import asyncio
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from model_double.script import evaluation, patch, text
from sessions.models import ConversationMessage, ProjectEvent, VibecodeRun, VibecodeSession
from sessions.runs import RunLost, run_finish, run_start
from sessions.tests.test_vibecode_flow import PATCH
from vibegrapher.errors import NotFound

pytestmark = pytest.mark.django_db(transaction=True)


async def left_running(session: dict, *, minutes_ago: float) -> VibecodeRun:
    """A run that a process killed mid-run left `running`, its last heartbeat `minutes_ago`."""
    stored = await VibecodeSession.objects.select_related("project").aget(pk=session["id"])
    run, _ = await sync_to_async(run_start)(session=stored, prompt="Left behind", client_message_id="left-1")
    then = timezone.now() - timedelta(minutes=minutes_ago)
    await VibecodeRun.objects.filter(pk=run.pk).aupdate(
        status=VibecodeRun.Status.RUNNING, worker="gone:1", created_at=then, started_at=then, heartbeat_at=then
    )
    return run


async def test_a_run_whose_process_died_does_not_block_the_session(api, provider, session, socket_factory):
    # No reaper runs here (as in a restarted process that has not dispatched a run): the request
    # itself sees the stale run, marks it interrupted, and goes ahead.
    dead = await left_running(session, minutes_ago=5)
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    await socket.connect()
    provider.script(text("Here."))
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Still there?"})
    print("POST after a dead run ->", response.status_code, response.text[:200])
    assert (response.status_code, response.json()["status"]) == (200, "answered")
    await dead.arefresh_from_db()
    assert dead.status == "interrupted"
    told = await socket.receive_until("vibecode_response")
    assert told["data"]["message_id"] == "left-1" and told["data"]["error_kind"] == "interrupted"
    again = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "x", "message_id": "left-1"})
    assert (again.status_code, again.json()["status"]) == (200, "failed"), "its own id finds the interrupted run"


async def test_a_run_with_a_recent_heartbeat_still_blocks_the_session(api, provider, session):
    await left_running(session, minutes_ago=0)
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Too soon?"})
    assert response.status_code == 409
    assert len(provider.requests) == 0


@pytest.mark.parametrize("what", ["project", "session"])
async def test_delete_is_not_blocked_by_a_run_whose_process_died(api, session, what):
    await left_running(session, minutes_ago=5)
    path = f"/projects/{session['project_id']}" if what == "project" else f"/sessions/{session['id']}"
    response = await api.delete(path)
    print(f"DELETE {what} with a dead run ->", response.status_code, response.text)
    assert response.status_code == 204


async def test_a_run_given_up_on_while_it_waited_for_the_model_stores_nothing_more(api, provider, session):
    provider.script(patch(PATCH, "Pirate", match="vibecoder"), evaluation(True, "ok", "Pirate", delay=1.0))
    response = await api.post(
        f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"}, headers={"Prefer": "respond-async"}
    )
    assert response.status_code == 202
    run = await VibecodeRun.objects.aget(session_id=session["id"])
    deadline = time.monotonic() + 10
    while not await ConversationMessage.objects.filter(session_id=session["id"], agent="vibecoder").aexists():
        assert time.monotonic() < deadline, "the vibecoder step was never stored"
        await asyncio.sleep(0.05)
    # What the reaper does when the heartbeat has stopped (a paused process): the run is given up on.
    await VibecodeRun.objects.filter(pk=run.pk).aupdate(status=VibecodeRun.Status.INTERRUPTED)
    events_before = await ProjectEvent.objects.filter(project_id=session["project_id"]).acount()
    await asyncio.sleep(1.6)  # the evaluator answers; the run tries to store that step and the diff
    await run.arefresh_from_db()
    agents = [m.agent async for m in ConversationMessage.objects.filter(session_id=session["id"]).order_by("sequence")]
    events_after = await ProjectEvent.objects.filter(project_id=session["project_id"]).acount()
    print("run:", run.status, "messages:", agents, "events:", events_before, "->", events_after)
    assert run.status == "interrupted"
    assert agents == ["user", "vibecoder"], "the evaluator step of a run given up on is not stored"
    assert (await api.get(f"/sessions/{session['id']}/diffs")).json() == []
    assert events_after == events_before, "nothing more is broadcast for it"


async def test_finishing_a_run_that_was_given_up_on_is_refused(session):
    stored = await VibecodeSession.objects.select_related("project").aget(pk=session["id"])
    run, _ = await sync_to_async(run_start)(session=stored, prompt="x", client_message_id=None)
    await VibecodeRun.objects.filter(pk=run.pk).aupdate(status=VibecodeRun.Status.INTERRUPTED)
    with pytest.raises(RunLost):
        await sync_to_async(run_finish)(run=run, status=VibecodeRun.Status.FINISHED, result={"status": "answered"})
    await run.arefresh_from_db()
    assert run.status == "interrupted"


async def test_a_message_to_a_session_deleted_meanwhile_is_404(session):
    # The request read the session, then a DELETE won the race before the message was stored.
    stored = await VibecodeSession.objects.select_related("project").aget(pk=session["id"])
    await VibecodeSession.objects.filter(pk=stored.pk).adelete()
    with pytest.raises(NotFound, match="not found"):
        await sync_to_async(run_start)(session=stored, prompt="Anyone?", client_message_id=None)
    assert not await VibecodeRun.objects.filter(session_id=stored.pk).aexists()


async def test_a_run_whose_base_code_cannot_be_read_fails_and_frees_its_session(api, provider, session):
    import shutil

    from projects import repository
    from projects.models import Project

    project = await Project.objects.aget(pk=session["project_id"])
    shutil.rmtree(repository.repository_path(slug=project.slug))  # the git read of the base code fails
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Anyone?"})
    print("POST with the repository folder gone ->", response.status_code, response.text[:300])
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed" and "cannot be opened" in body["error"]
    run = await VibecodeRun.objects.aget(session_id=session["id"])
    assert run.status == "failed"
    told = await ConversationMessage.objects.filter(session_id=session["id"], role="system").alast()
    assert told is not None and told.content == body["error"]
    again = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Again?"})
    assert again.status_code == 200, "the session is not blocked by a run left running"
    assert len(provider.requests) == 0
