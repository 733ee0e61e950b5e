"""A restart leaves no run looking alive: a server killed with SIGKILL mid-run and started again on
the same database reports that run `interrupted` at once, not after the heartbeat goes stale, and a
re-POST of its `message_id` answers at once with that result."""

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.utils import timezone

from model_double.script import patch
from projects.services import project_create
from sessions.models import ConversationMessage, VibecodeRun
from sessions.tests.test_vibecode_flow import PATCH
from tests.processes import start_production, start_web, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def test_a_run_killed_with_its_server_is_interrupted_when_the_server_starts_again(provider, tmp_path):
    project = project_create(name="Restarted")
    # The stale-heartbeat reaper would take a minute; only the boot identity can be this quick.
    env = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": provider.base_url, "INSTANCE_NAME": "machine-1"}
    provider.script(patch(PATCH, "Pirate", match="vibecoder", delay=60))  # the model is slow: the run is mid-way
    server, base_url = start_web(tmp_path / "first.log", **env)
    try:
        session = httpx.post(f"{base_url}/projects/{project.id}/sessions", json={}, timeout=30).json()
        posted = httpx.post(
            f"{base_url}/sessions/{session['id']}/messages",
            json={"prompt": "Pirate", "message_id": "m-1"},
            headers={"Prefer": "respond-async"},
            timeout=30,
        )
        assert posted.status_code == 202
        deadline = time.monotonic() + 30
        while not provider.requests:
            assert time.monotonic() < deadline, "the run never called the model"
            time.sleep(0.05)
        run = VibecodeRun.objects.get(session_id=session["id"])
        assert run.status == "running" and run.worker.startswith("machine-1/")
        server.send_signal(signal.SIGKILL)
        server.wait()
    finally:
        stop(server)

    killed_at, killed_wall = time.monotonic(), timezone.now()
    server, base_url = start_web(tmp_path / "second.log", **env)
    try:
        started_in = time.monotonic() - killed_at
        run.refresh_from_db()
        print(f"restart took {started_in:.1f} s; run status when /health first answered: {run.status}")
        if run.finished_at is not None:
            print(
                f"kill-to-interrupted: {(run.finished_at - killed_wall).total_seconds():.2f} s (most of it the start)"
            )
        assert run.status == "interrupted", "still reported running though no process runs it"
        again_at = time.monotonic()
        again = httpx.post(
            f"{base_url}/sessions/{session['id']}/messages", json={"prompt": "Pirate", "message_id": "m-1"}, timeout=30
        )
        print(f"re-POST answered in {time.monotonic() - again_at:.2f} s: {again.status_code} {again.text[:300]}")
        body = again.json()
        assert (again.status_code, body["status"]) == (200, "failed")
        assert "interrupted" in body["error"] and "new message_id" in body["error"]
        assert ConversationMessage.objects.filter(
            session_id=session["id"], role="system", content=body["error"]
        ).exists()
        fresh = httpx.post(
            f"{base_url}/sessions/{session['id']}/messages",
            json={"prompt": "x"},
            headers={"Prefer": "respond-async"},
            timeout=30,
        )
        assert fresh.status_code == 202, "the session is free for a new request"
    finally:
        stop(server)


def test_the_production_server_stops_within_its_shutdown_timeout_while_a_run_is_awaited(provider, tmp_path):
    """SIGTERM to `scripts/start-web` while a POST /messages waits for a run whose model takes a minute:
    the server stops after SHUTDOWN_TIMEOUT_S instead of waiting for the run, and the run is reported
    `interrupted` once the instance is back."""
    project = project_create(name="Stopped")
    env = {"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": provider.base_url, "INSTANCE_NAME": "machine-2"}
    provider.script(patch(PATCH, "Pirate", match="vibecoder", delay=60))
    log = tmp_path / "start-web.log"
    server, base_url = start_production(log, SHUTDOWN_TIMEOUT_S="2", **env)
    try:
        session = httpx.post(f"{base_url}/projects/{project.id}/sessions", json={}, timeout=30).json()
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(
                httpx.post, f"{base_url}/sessions/{session['id']}/messages", json={"prompt": "Pirate"}, timeout=120
            )
            deadline = time.monotonic() + 30
            while not provider.requests:
                assert time.monotonic() < deadline, "the run never called the model"
                time.sleep(0.05)
            asked_at = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            stopped_in = time.monotonic() - asked_at
            print(f"stopped {stopped_in:.1f} s after SIGTERM; log tail: {log.read_text()[-600:]}")
            assert stopped_in < 15, "the server waited for the run instead of its shutdown timeout"
            with pytest.raises(httpx.HTTPError):
                waiting.result(timeout=30).raise_for_status()  # the awaiting request was cut off, not answered
    finally:
        stop(server)

    server, base_url = start_web(tmp_path / "again.log", **env)
    try:
        run = VibecodeRun.objects.get(session_id=session["id"])
        assert run.status == "interrupted"
    finally:
        stop(server)
