"""A client's whole journey over HTTP and WebSocket: project -> vibecode -> preview -> approve -> commit."""

import asyncio

import pytest
from django.conf import settings

from model_double.script import evaluation, patch
from projects.starter_code import STARTER_WORKFLOW
from projects.tests.git_cli import git
from sessions.vibecoder.memory import memory_items
from tests.samples import PIRATE_PATCH as PATCH

pytestmark = pytest.mark.django_db(transaction=True)

PIRATE = STARTER_WORKFLOW.replace("helpful", "pirate")


async def test_vibecode_review_and_commit_over_the_api(api, provider, socket_factory):
    project = (await api.post("/projects", json={"name": "Journey"})).json()
    session = (await api.post(f"/projects/{project['id']}/sessions", json={})).json()
    socket = socket_factory(f"/ws/projects/{project['id']}")
    assert (await socket.connect())[0]
    await socket.receive_until("subscribed")

    provider.script(
        patch(PATCH, "Make the assistant a pirate", usage=(120, 30), match="vibecoder"),
        evaluation(
            True, "Does what was asked.", "Make the assistant talk like a pirate", usage=(200, 40), match="evaluator"
        ),
    )
    result = (await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Talk like a pirate"})).json()
    print("vibecode:", result["status"], "token usage:", result["token_usage"])
    assert result["status"] == "pending_human_review"
    diff_id = result["diff_id"]

    preview = (await api.get(f"/diffs/{diff_id}/preview")).json()
    assert (preview["original_code"], preview["preview_code"]) == (STARTER_WORKFLOW, PIRATE)

    approved = await api.post(f"/diffs/{diff_id}/review", json={"approved": True})
    assert (approved.status_code, approved.json()["status"]) == (200, "human_approved")

    committed = await api.post(f"/diffs/{diff_id}/commit", json={})
    assert committed.status_code == 200, committed.text
    sha = committed.json()["committed_sha"]

    repo = settings.MEDIA_PATH / "projects" / project["slug"]
    assert git(repo, "rev-parse", "main") == sha
    assert git(repo, "show", "main:workflow.py", strip=False) == PIRATE
    assert git(repo, "log", "-1", "--format=%s") == "Make the assistant talk like a pirate"
    event = await socket.receive_until("code_changed")
    assert (event["data"]["commit_sha"], event["data"]["diff_id"]) == (sha, diff_id)
    now = (await api.get(f"/projects/{project['id']}")).json()
    assert (now["current_commit"], now["current_code"]) == (sha, PIRATE)

    db, key = session["conversations_db_path"], session["openai_session_key"]
    assert await asyncio.to_thread(memory_items, db_path=db, key=f"{key}_evaluator") == []
    assert await asyncio.to_thread(memory_items, db_path=db, key=key) != []
