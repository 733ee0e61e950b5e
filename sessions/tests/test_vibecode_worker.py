"""Runs executed by `manage.py vibecode_worker` processes, and runs whose process died."""

import asyncio
import signal
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from model_double.script import evaluation, patch, text
from projects.services import project_create
from sessions.models import ConversationMessage, ProjectEvent, VibecodeRun
from sessions.runs import runs_reap
from sessions.tests.test_vibecode_flow import PATCH
from sessions.vibecoder import executor
from tests.processes import free_port, start_worker, stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def worker_session(api, provider, settings):
    settings.VIBECODE_EXECUTOR = "worker"
    project = await sync_to_async(project_create)(name="Worker")
    return (await api.post(f"/projects/{project.id}/sessions", json={})).json()


async def test_worker_process_executes_a_queued_run(api, provider, worker_session, tmp_path):
    provider.script(patch(PATCH, "pirate"), evaluation(True, "ok", "Pirate"))
    worker = start_worker(tmp_path / "worker.log")
    try:
        response = await api.post(f"/sessions/{worker_session['id']}/messages", json={"prompt": "Pirate"})
    finally:
        stop(worker)
    body = response.json()
    print("worker log tail:", (tmp_path / "worker.log").read_text()[-600:])
    assert response.status_code == 200, body
    assert body["status"] == "pending_human_review"
    run = await VibecodeRun.objects.aget(client_message_id=None, session_id=worker_session["id"])
    assert run.status == "finished" and run.worker.startswith(f"{settings.INSTANCE_NAME}/")
    assert run.worker != executor.INSTANCE, "executed by the worker process, not by this one"


async def test_a_worker_whose_channel_layer_is_unreachable_keeps_executing_runs(
    api, provider, worker_session, tmp_path
):
    # Redis away (here: nothing listens on the port): the worker used to exit at once. It now finds
    # queued runs by polling the database, and says why it cannot listen.
    provider.script(patch(PATCH, "pirate"), evaluation(True, "ok", "Pirate"))
    log = tmp_path / "worker.log"
    worker = start_worker(log, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    try:
        response = await api.post(f"/sessions/{worker_session['id']}/messages", json={"prompt": "Pirate"})
        alive = worker.poll() is None
    finally:
        stop(worker)
    print("worker log tail:", log.read_text()[-800:])
    assert alive, "the worker must not exit when the channel layer fails"
    assert (response.status_code, response.json()["status"]) == (200, "pending_human_review")
    assert "The channel layer failed" in log.read_text()


async def test_killed_worker_leaves_finished_steps_and_an_interrupted_run(
    api, provider, worker_session, tmp_path, settings
):
    provider.script(patch(PATCH, "pirate"), evaluation(True, "ok", "Pirate", delay=30))
    worker = start_worker(tmp_path / "worker.log", RUN_HEARTBEAT_S="0.2")
    try:
        accepted = await api.post(
            f"/sessions/{worker_session['id']}/messages", json={"prompt": "Pirate"}, headers={"Prefer": "respond-async"}
        )
        assert accepted.status_code == 202
        deadline = time.monotonic() + 20
        while not await ConversationMessage.objects.filter(
            session_id=worker_session["id"], agent="vibecoder"
        ).aexists():
            assert time.monotonic() < deadline, "the vibecoder step was never stored"
            await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    finally:
        stop(worker)
    run = await VibecodeRun.objects.aget(session_id=worker_session["id"])
    assert run.status == "running", "a killed process cannot mark its own run"

    settings.RUN_STALE_AFTER_S = 0.5
    await asyncio.sleep(0.7)
    assert await sync_to_async(runs_reap)() == 1
    await run.arefresh_from_db()
    assert run.status == "interrupted"
    assert run.result is not None
    assert "interrupted" in run.result["error"]
    roles = [
        m.agent async for m in ConversationMessage.objects.filter(session_id=worker_session["id"]).order_by("sequence")
    ]
    assert roles == ["user", "vibecoder", "system"], (
        "the user message and the finished step survive; the reason is told"
    )
    assert run.result["token_usage"]["total_tokens"] == 150, (
        "the tokens its stored step used (the double's default usage)"
    )
    assert run.result["token_usage"]["model_calls"] == 1
    last_event = await ProjectEvent.objects.filter(project_id=worker_session["project_id"]).order_by("-seq").afirst()
    assert last_event is not None
    assert last_event.type == "vibecode_response" and last_event.data["status"] == "failed"
    # The session is free again: a new request is accepted.
    provider.reset()
    provider.script(text("fine"))
    worker = start_worker(tmp_path / "worker2.log")
    try:
        again = await api.post(f"/sessions/{worker_session['id']}/messages", json={"prompt": "Still there?"})
    finally:
        stop(worker)
    assert again.status_code == 200 and again.json()["status"] == "answered"
