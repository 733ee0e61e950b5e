"""The vibecode loop end to end: HTTP request -> model double -> stored messages, diff, events."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from model_double.script import error, evaluation, patch, text
from projects.services import project_create
from tests.samples import NOT_STRINGS
from tests.samples import PIRATE_PATCH as PATCH

pytestmark = pytest.mark.django_db(transaction=True)


async def test_happy_path_creates_diff_and_streams_every_step(api, provider, session, socket_factory):
    provider.script(
        patch(PATCH, "Make the assistant a pirate", usage=(120, 30), match="vibecoder"),
        evaluation(
            True, "Does what was asked.", "Make the assistant speak like a pirate", usage=(200, 40), match="evaluator"
        ),
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
    # Each step's output streams (message_delta, see test_deltas.py) before the step is stored.
    assert types == [
        "conversation_message",
        "message_delta",
        "conversation_message",
        "token_usage",
        "message_delta",
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


async def test_a_model_answer_with_nul_characters_is_stored_on_every_database(api, provider, session):
    # PostgreSQL text and jsonb cannot hold NUL: stored (and answered) as U+FFFD, on SQLite too.
    provider.script(text("One agent,\x00 Assistant.", match="vibecoder"))
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "What agents are there?"})
    body = response.json()
    print("POST /sessions/:id/messages ->", response.status_code, body)
    assert response.status_code == 200
    assert (body["status"], body["content"]) == ("answered", "One agent,\ufffd Assistant.")
    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    assert messages[-1]["content"] == "One agent,\ufffd Assistant."
    full = (await api.get(f"/messages/{messages[-1]['id']}/full")).json()
    assert full["openai_response"]["output"][0]["content"][0]["text"] == "One agent,\ufffd Assistant."


async def test_an_evaluation_with_nul_characters_is_stored_on_every_database(api, provider, session):
    provider.script(
        patch(PATCH, "Pirate\x00", match="vibecoder"),
        evaluation(True, "Fine\x00.", "Pirate\x00 talk", match="evaluator"),
    )
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"})
    body = response.json()
    assert (response.status_code, body["status"]) == (200, "pending_human_review")
    assert body["commit_message"] == "Pirate\ufffd talk"
    diff = (await api.get(f"/diffs/{body['diff_id']}")).json()
    assert (diff["commit_message"], diff["evaluator_reasoning"]) == ("Pirate\ufffd talk", "Fine\ufffd.")


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


BAD_CONTEXT_PATCH = """@@ -6,3 +6,3 @@
     name="Assistant",
-    instructions="You are a grumpy assistant.",
+    instructions="You are a pirate assistant.",
 )
"""

SYNTAX_ERROR_PATCH = """@@ -6,3 +6,3 @@
     name="Assistant",
-    instructions="You are a helpful assistant. Answer clearly and briefly.",
+    instructions="You are a pirate assistant.
 )
"""


async def _events_until(socket, event_type: str) -> list[dict]:
    received: list[dict] = []
    while not received or received[-1]["type"] != event_type:
        received.append(await socket.receive(timeout=10))
    return received


async def test_refused_patches_go_back_to_the_vibecoder_without_an_evaluator_call(api, provider, session):
    provider.script(
        patch(BAD_CONTEXT_PATCH, "first try", match="vibecoder"),
        patch(SYNTAX_ERROR_PATCH, "second try", match="vibecoder"),
        patch(PATCH, "third try", match="vibecoder"),
        evaluation(True, "Fine.", "Pirate assistant", match="evaluator"),
    )
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate please"})
    body = response.json()
    assert body["status"] == "pending_human_review", body
    requests = provider.requests
    assert len(requests) == 4
    tool_outputs = [
        item["output"]
        for item in requests[1]["input"] + requests[2]["input"]
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    ]
    print("tool outputs seen by the model:", tool_outputs)
    assert "not applied" in tool_outputs[0] and "grumpy assistant" in tool_outputs[0]
    assert any("SyntaxError" in output for output in tool_outputs)
    diff = (await api.get(f"/diffs/{body['diff_id']}")).json()
    assert "pirate assistant" in diff["diff_content"]
    assert body["token_usage"]["model_calls"] == 4


async def test_three_rejections_end_in_max_iterations_with_three_evaluator_calls(api, provider, session):
    steps = []
    for round_number in range(1, 4):
        steps.append(patch(PATCH, f"try {round_number}", match="vibecoder"))
        steps.append(evaluation(False, f"Not piratey enough ({round_number}).", "x", match="evaluator"))
    provider.script(*steps)
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate please"})
    body = response.json()
    print("result:", body)
    assert body["status"] == "max_iterations"
    assert body["error"] == "Max iterations reached"
    assert body["final_feedback"] == "Not piratey enough (3)."
    assert body["diff_id"] is None
    evaluator_calls = [r for r in provider.requests if "text" in r and "json_schema" in str(r.get("text"))]
    assert len(evaluator_calls) == 3
    # The retry prompt carries the evaluator's reasoning and the original request.
    second_vibecoder_input = str(provider.requests[2]["input"])
    assert "Not piratey enough (1)." in second_vibecoder_input and "Pirate please" in second_vibecoder_input
    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    assert [m["iteration"] for m in messages[1:]] == [1, 1, 2, 2, 3, 3]
    assert (await api.get(f"/sessions/{session['id']}/diffs")).json() == []


async def test_step_event_arrives_while_next_model_call_is_pending(api, provider, session, socket_factory):
    provider.script(
        patch(PATCH, "pirate", match="vibecoder"),
        evaluation(True, "ok", "Pirate", match="evaluator", delay=1.5),
    )
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    await socket.connect()
    await socket.receive_until("subscribed")
    request = asyncio.create_task(api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"}))
    await socket.receive_until("conversation_message")  # the user message
    step = await socket.receive_until("conversation_message")
    assert step["data"]["agent"] == "vibecoder"
    assert not request.done(), "the vibecoder step must be broadcast before the evaluator answers"
    response = await request
    assert response.json()["status"] == "pending_human_review"


async def test_repeated_message_id_returns_first_result_without_calling_the_model(api, provider, session):
    provider.script(patch(PATCH, "pirate"), evaluation(True, "ok", "Pirate"))
    first = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate", "message_id": "client-1"})
    calls = len(provider.requests)
    second = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate", "message_id": "client-1"})
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert first.json()["message_id"] == "client-1"
    assert len(provider.requests) == calls
    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    assert [m["role"] for m in messages].count("user") == 1


async def test_message_id_the_service_gave_finds_the_run_again(api, provider, session):
    # No message_id sent: the 202 and the result name the run by its user message's id; sending that id
    # back is a repeat of the same request, not a new one.
    provider.script(patch(PATCH, "pirate"), evaluation(True, "ok", "Pirate"))
    accepted = await api.post(
        f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"}, headers={"Prefer": "respond-async"}
    )
    assert accepted.status_code == 202, accepted.text
    message_id = accepted.json()["message_id"]
    first = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate", "message_id": message_id})
    calls = len(provider.requests)
    again = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate", "message_id": message_id})
    print("202 message_id:", message_id, "-> repeat:", first.status_code, first.json()["status"], "calls:", calls)
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "pending_human_review"
    assert again.json() == first.json()
    assert first.json()["message_id"] == message_id
    assert calls == 2 and len(provider.requests) == 2, "the model ran once, for the first request only"
    diffs = (await api.get(f"/sessions/{session['id']}/diffs")).json()
    assert [d["id"] for d in diffs] == [first.json()["diff_id"]]


async def test_second_concurrent_run_in_a_session_gets_409(api, provider, session):
    provider.script(text("slow answer", delay=1.0))
    first = asyncio.create_task(api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Question?"}))
    await asyncio.sleep(0.3)
    second = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Another?"})
    assert second.status_code == 409, second.text
    assert "in progress" in second.json()["detail"]
    assert (await first).json()["status"] == "answered"


async def test_prefer_respond_async_answers_202_and_broadcasts_the_result(api, provider, session, socket_factory):
    provider.script(text("later", delay=0.3))
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    await socket.connect()
    response = await api.post(
        f"/sessions/{session['id']}/messages", json={"prompt": "Question?"}, headers={"Prefer": "respond-async"}
    )
    assert response.status_code == 202
    assert response.json()["status"] == "processing"
    assert response.json()["message_id"]
    result = await socket.receive_until("vibecode_response")
    assert result["data"]["status"] == "answered"
    assert result["data"]["message_id"] == response.json()["message_id"]


@pytest.mark.parametrize(
    "prefer, expected",
    [
        ("RESPOND-ASYNC", 202),
        ("wait=10, Respond-Async", 202),
        ("respond-async; x=1", 202),
        ("return=minimal", 200),
        ("no-respond-async", 200),
    ],
)
async def test_prefer_is_read_as_rfc_7240_preferences(api, provider, session, socket_factory, prefer, expected):
    provider.script(text("answer"))
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    await socket.connect()
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Q?"}, headers={"Prefer": prefer})
    print(f"Prefer: {prefer} ->", response.status_code, response.json()["status"])
    assert response.status_code == expected
    assert response.json()["status"] == ("processing" if expected == 202 else "answered")
    assert (await socket.receive_until("vibecode_response"))["data"]["status"] == "answered"


async def test_client_that_disconnects_mid_run_loses_nothing(api, provider, session, socket_factory):
    provider.script(patch(PATCH, "pirate", delay=0.5), evaluation(True, "ok", "Pirate"))
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    await socket.connect()
    request = asyncio.create_task(api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"}))
    await asyncio.sleep(0.2)
    request.cancel()  # the HTTP client goes away
    result = await socket.receive_until("vibecode_response")
    assert result["data"]["status"] == "pending_human_review"
    diffs = (await api.get(f"/sessions/{session['id']}/diffs")).json()
    assert [d["id"] for d in diffs] == [result["data"]["diff_id"]]
    assert len((await api.get(f"/sessions/{session['id']}/messages")).json()) == 3


async def test_rate_limit_is_retried_with_retry_after(api, provider, session, settings):
    settings.OPENAI_MAX_RETRIES = 2
    provider.script(error(429, "slow down", retry_after=0.2), text("answer after retry"))
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Question?"})
    assert response.status_code == 200, response.text
    assert response.json()["content"] == "answer after retry"
    assert len(provider.requests) == 2


@pytest.mark.parametrize("status", [401, 429, 500])
async def test_provider_errors_are_reported_and_stored(api, provider, session, socket_factory, status):
    provider.script(error(status, f"provider said {status}"))
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    await socket.connect()
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Change it"})
    body = response.json()
    print(f"provider {status} ->", response.status_code, body["detail"])
    assert response.status_code == 502
    assert str(status) in body["detail"] and body["status"] == "failed"
    event = await socket.receive_until("vibecode_response")
    assert event["data"]["status"] == "failed"
    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    assert [m["role"] for m in messages] == ["user", "system"]


async def test_node_session_tells_the_vibecoder_which_agent(api, provider):
    project = await sync_to_async(project_create)(name="Nodes")
    node_session = (await api.post(f"/projects/{project.id}/sessions", json={"node_id": "assistant_agent"})).json()
    assert node_session["openai_session_key"] == "project_nodes_node_assistant_agent"
    provider.script(text("It answers briefly."))
    await api.post(f"/sessions/{node_session['id']}/messages", json={"prompt": "What does it do?"})
    sent = str(provider.requests[0]["input"])
    assert "assistant_agent" in sent and "lines 5-8" in sent


async def test_memory_is_kept_between_runs_and_cleared_on_delete(api, provider, session):
    from sessions.vibecoder.memory import memory_items

    provider.script(patch(PATCH, "pirate"), evaluation(True, "ok", "Pirate"), text("Second answer"))
    await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"})
    await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "And now?"})
    assert "Pirate" in str(provider.requests[2]["input"]), "the second run sees the first in its memory"
    db_path = session["conversations_db_path"]
    key = session["openai_session_key"]
    assert await sync_to_async(memory_items)(db_path=db_path, key=key)
    assert await sync_to_async(memory_items)(db_path=db_path, key=f"{key}_evaluator")
    assert (await api.delete(f"/sessions/{session['id']}")).status_code == 204
    assert await sync_to_async(memory_items)(db_path=db_path, key=key) == []
    assert await sync_to_async(memory_items)(db_path=db_path, key=f"{key}_evaluator") == []


async def test_turn_limit_ends_the_run_as_failed(api, provider, session, settings):
    settings.VIBECODE_MAX_TURNS = 2
    provider.script(patch(BAD_CONTEXT_PATCH, "a"), patch(BAD_CONTEXT_PATCH, "b"))
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"})
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "failed" and "2 turns" in body["error"]
    evaluator_calls = [r for r in provider.requests if "json_schema" in str(r.get("text"))]
    assert evaluator_calls == []
    last = (await api.get(f"/sessions/{session['id']}/messages")).json()[-1]
    assert (last["role"], last["content"]) == ("system", body["error"])


async def test_token_budget_ends_the_run_as_failed_and_says_so(api, provider, session, settings):
    settings.VIBECODE_TOKEN_BUDGET = 100
    provider.script(patch(PATCH, "Pirate", usage=(90, 20), match="vibecoder"))
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"})
    body = response.json()
    print("POST /sessions/:id/messages ->", response.status_code, body)
    assert (response.status_code, body["status"]) == (200, "failed")
    assert body["error"] == "The run used 110 tokens, over its budget of 100; it was stopped."
    assert body["token_usage"]["total_tokens"] == 110
    last = (await api.get(f"/sessions/{session['id']}/messages")).json()[-1]
    assert (last["role"], last["content"]) == ("system", body["error"])


async def test_bad_bodies_get_400(api, provider, session):
    for body in [{}, {"prompt": ""}, {"prompt": 5, "message_id": []}, ["prompt"]]:
        response = await api.post(f"/sessions/{session['id']}/messages", json=body)
        assert response.status_code == 400, (body, response.text)
        assert "detail" in response.json()
    response = await api.post("/sessions/not-a-uuid/messages", json={"prompt": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("value", NOT_STRINGS)
@pytest.mark.parametrize("field", ["prompt", "message_id"])
async def test_prompt_or_message_id_that_is_not_a_string_is_400(api, provider, session, field, value):
    payload = {"prompt": "Make it talk like a pirate", field: value}
    response = await api.post(f"/sessions/{session['id']}/messages", json=payload)
    body = response.json()
    print(f"POST /sessions/:id/messages {payload} ->", response.status_code, body)
    assert response.status_code == 400
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["errors"][field] == ["Not a valid string."]
    assert provider.requests == []
    assert (await api.get(f"/sessions/{session['id']}/messages")).json() == []


async def test_prompt_and_message_id_of_digits_sent_as_strings_are_fine(api, provider, session):
    provider.script(text("Forty-two.", match="vibecoder"))
    payload = {"prompt": "42", "message_id": "7"}
    response = await api.post(f"/sessions/{session['id']}/messages", json=payload)
    body = response.json()
    print(f"POST /sessions/:id/messages {payload} ->", response.status_code, body)
    assert response.status_code == 200, body
    assert (body["status"], body["message_id"], body["content"]) == ("answered", "7", "Forty-two.")
    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    assert messages[0]["content"] == "42"


async def test_project_with_a_run_in_progress_cannot_be_deleted(api, provider, session):
    provider.script(text("slow", delay=1.0))
    run = asyncio.create_task(api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Question?"}))
    await asyncio.sleep(0.3)
    response = await api.delete(f"/projects/{session['project_id']}")
    assert response.status_code == 409, response.text
    assert "in progress" in response.json()["detail"]
    assert (await run).status_code == 200
    assert (await api.delete(f"/projects/{session['project_id']}")).status_code == 204
