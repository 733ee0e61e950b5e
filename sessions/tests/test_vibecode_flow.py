"""The vibecode loop end to end: HTTP request -> model double -> stored messages, diff, events."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from model_double.script import error, evaluation, patch, text
from projects.services import project_create

pytestmark = pytest.mark.django_db(transaction=True)

PATCH = """--- a/workflow.py
+++ b/workflow.py
@@ -6,3 +6,3 @@
     name="Assistant",
-    instructions="You are a helpful assistant. Answer clearly and briefly.",
+    instructions="You are a pirate assistant. Answer clearly and briefly.",
 )
"""


@pytest.fixture
async def session(api):
    project = await sync_to_async(project_create)(name="Flow")
    response = await api.post(f"/projects/{project.id}/sessions", json={})
    assert response.status_code == 201, response.text
    return response.json()


async def test_happy_path_creates_diff_and_streams_every_step(api, provider, session, socket_factory):
    provider.script(
        patch(PATCH, "Make the assistant a pirate", usage=(120, 30), match="vibecoder"),
        evaluation(True, "Does what was asked.", "Make the assistant speak like a pirate", usage=(200, 40), match="evaluator"),
    )
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_until("subscribed")

    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Make it talk like a pirate"})
    body = response.json()
    print("POST /sessions/:id/messages ->", response.status_code, body)
    assert response.status_code == 200
    assert body["status"] == "pending_human_review"
    assert body["commit_message"] == "Make the assistant speak like a pirate"
    assert body["token_usage"]["prompt_tokens"] == 320
    assert body["token_usage"]["completion_tokens"] == 70
    assert body["token_usage"]["total_tokens"] == 390
    assert body["trace_id"].startswith("trace_")
    assert body["error"] is None

    diff = (await api.get(f"/diffs/{body['diff_id']}")).json()
    assert diff["status"] == "evaluator_approved"
    assert '+    instructions="You are a pirate assistant.' in diff["diff_content"]
    assert diff["diff_content"].startswith("diff --git a/workflow.py b/workflow.py")

    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    assert [(m["role"], m["agent"], m["sequence"]) for m in messages] == [
        ("user", "user", 1),
        ("assistant", "vibecoder", 2),
        ("assistant", "evaluator", 3),
    ]
    vibecoder_step = messages[1]
    assert vibecoder_step["token_usage"]["prompt_tokens"] == 120
    assert vibecoder_step["last_response_id"]
    assert vibecoder_step["patch_preview"].startswith("--- a/workflow.py")
    assert vibecoder_step["trace_id"] == body["trace_id"]
    full = (await api.get(f"/messages/{vibecoder_step['id']}/full")).json()
    assert full["openai_response"]["id"] == vibecoder_step["last_response_id"]
    assert full["openai_response"]["output"][0]["type"] == "function_call"

    types = []
    while "vibecode_response" not in types:
        types.append((await socket.receive())["type"])
    print("events:", types)
    assert types == [
        "conversation_message",
        "conversation_message",
        "token_usage",
        "conversation_message",
        "token_usage",
        "diff_created",
        "vibecode_response",
    ]


async def test_text_answer(api, provider, session):
    provider.script(text("It has one agent, Assistant.", match="vibecoder"))
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "What agents are there?"})
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "answered"
    assert body["content"] == "It has one agent, Assistant."
    assert body["diff_id"] is None


async def test_provider_500_is_502_and_keeps_user_message(api, provider, session):
    provider.script(error(500, "upstream broke"))
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Change it"})
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["status"] == "failed"
    assert "500" in body["detail"]
    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    assert [(m["role"], m["content"][:10]) for m in messages][0] == ("user", "Change it")
    assert messages[-1]["role"] == "system"


async def test_no_key_is_503(api, no_provider, session):
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Change it"})
    assert response.status_code == 503
    assert "OPENAI_API_KEY" in response.json()["detail"]
