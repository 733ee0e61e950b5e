"""Model provider faults, end to end: the model double misbehaves, a user sends `POST /sessions/:id/messages`.

Each fault ends either in a retried success or in a clear failure: 502 with a readable `detail`, the
user's message kept, a system message saying what went wrong stored and broadcast, no diff written, and
the session free for the next request, which succeeds.
"""

import time

import pytest
from asgiref.sync import sync_to_async

from model_double.script import cut_stream, error, evaluation, malformed, patch, text
from projects.services import project_create
from tests.samples import PIRATE_PATCH as PATCH

pytestmark = pytest.mark.django_db(transaction=True)


def success_steps():
    return (
        patch(PATCH, "Make the assistant a pirate", match="vibecoder"),
        evaluation(True, "Does what was asked.", "Pirate assistant", match="evaluator"),
    )


@pytest.fixture
async def session(api):
    project = await sync_to_async(project_create)(name="Faults")
    response = await api.post(f"/projects/{project.id}/sessions", json={})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def socket(session, socket_factory):
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_until("subscribed")
    return socket


async def vibecode(api, session, prompt: str):
    started = time.monotonic()
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": prompt})
    elapsed = time.monotonic() - started
    print(f"POST /sessions/:id/messages {prompt!r} -> {response.status_code} in {elapsed:.1f} s: {response.text[:300]}")
    return response, elapsed


async def events_until_result(socket) -> list[dict]:
    received: list[dict] = []
    while not received or received[-1]["type"] != "vibecode_response":
        received.append(await socket.receive(timeout=15))
    return received


async def assert_clear_failure(api, session, socket, response, *, prompt: str, says: list[str]) -> str:
    """502, a readable detail naming the cause, and everything a user relies on stored and broadcast."""
    assert response.status_code == 502, response.text
    body = response.json()
    detail = body["detail"]
    print("detail:", detail)
    for words in says:
        assert words.lower() in detail.lower(), f"expected {words!r} in the detail"
    assert "unexpected" not in detail.lower() and "Traceback" not in detail
    assert body["status"] == "failed"
    assert body["error"] == detail
    assert body["diff_id"] is None

    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    print("messages:", [(m["role"], m["content"][:80]) for m in messages])
    assert (messages[0]["role"], messages[0]["content"]) == ("user", prompt)
    assert (messages[-1]["role"], messages[-1]["agent"], messages[-1]["content"]) == ("system", "system", detail)
    assert [m["sequence"] for m in messages] == list(range(1, len(messages) + 1))
    assert (await api.get(f"/sessions/{session['id']}/diffs")).json() == []

    events = await events_until_result(socket)
    print("events:", [(e["type"], e["data"].get("role")) for e in events])
    broadcast = [e["data"] for e in events if e["type"] == "conversation_message"]
    assert broadcast[0]["role"] == "user" and broadcast[0]["content"] == prompt
    assert broadcast[-1]["role"] == "system" and broadcast[-1]["content"] == detail
    assert events[-1]["data"]["status"] == "failed" and events[-1]["data"]["error"] == detail
    return detail


async def assert_next_request_succeeds(api, provider, session) -> dict:
    provider.script(*success_steps())
    response, _ = await vibecode(api, session, "Make it a pirate, second try")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "pending_human_review"
    diffs = (await api.get(f"/sessions/{session['id']}/diffs")).json()
    assert [diff["id"] for diff in diffs] == [body["diff_id"]]
    assert '+    instructions="You are a pirate assistant.' in diffs[0]["diff_content"]
    return body


async def assert_retried_success(api, session, socket, response, *, prompt: str) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "pending_human_review" and body["error"] is None
    print("token usage:", body["token_usage"])
    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    assert [(m["role"], m["agent"]) for m in messages] == [
        ("user", "user"),
        ("assistant", "vibecoder"),
        ("assistant", "evaluator"),
    ]
    assert messages[0]["content"] == prompt
    diffs = (await api.get(f"/sessions/{session['id']}/diffs")).json()
    assert [diff["id"] for diff in diffs] == [body["diff_id"]]
    events = await events_until_result(socket)
    assert events[-1]["data"]["status"] == "pending_human_review"
    assert not any(e["type"] == "conversation_message" and e["data"]["role"] == "system" for e in events)
    return body


# --- 429 with Retry-After -------------------------------------------------------------------------


async def test_rate_limit_with_retry_after_is_waited_out_and_retried(api, provider, session, socket, settings):
    settings.OPENAI_MAX_RETRIES = 2
    provider.script(error(429, "Rate limit reached for gpt-5-mini", retry_after=1, match="vibecoder"), *success_steps())
    response, elapsed = await vibecode(api, session, "Pirate, please")
    await assert_retried_success(api, session, socket, response, prompt="Pirate, please")
    assert len(provider.requests) == 3  # the 429, its retry, the evaluator
    assert elapsed >= 1.0, "the client must wait the Retry-After second before retrying"


async def test_rate_limit_without_retries_left_is_a_clear_502(api, provider, session, socket):
    provider.script(error(429, "Rate limit reached for gpt-5-mini", retry_after=1, match="vibecoder"))
    response, _ = await vibecode(api, session, "Pirate, please")
    await assert_clear_failure(
        api, session, socket, response, prompt="Pirate, please", says=["429", "Rate limit reached for gpt-5-mini"]
    )
    await assert_next_request_succeeds(api, provider, session)


# --- 500 bursts -------------------------------------------------------------------------------------


async def test_burst_of_three_500s_then_success_is_retried_to_success(api, provider, session, socket, settings):
    settings.OPENAI_MAX_RETRIES = 3
    provider.script(*[error(500, "The server had an error") for _ in range(3)], *success_steps())
    response, elapsed = await vibecode(api, session, "Pirate, please")
    await assert_retried_success(api, session, socket, response, prompt="Pirate, please")
    assert len(provider.requests) == 5  # three 500s, the vibecoder's success, the evaluator
    print(f"three backoffs took {elapsed:.1f} s")


async def test_burst_longer_than_the_retries_is_a_clear_502(api, provider, session, socket, settings):
    settings.OPENAI_MAX_RETRIES = 1
    provider.script(*[error(500, "The server had an error") for _ in range(2)])
    response, _ = await vibecode(api, session, "Pirate, please")
    await assert_clear_failure(
        api, session, socket, response, prompt="Pirate, please", says=["500", "The server had an error"]
    )
    assert len(provider.requests) == 2
    await assert_next_request_succeeds(api, provider, session)


async def test_500_on_the_evaluator_leaves_no_diff(api, provider, session, socket):
    provider.script(
        patch(PATCH, "Make the assistant a pirate", match="vibecoder"), error(500, "Evaluator backend down")
    )
    response, _ = await vibecode(api, session, "Pirate, please")
    detail = await assert_clear_failure(
        api, session, socket, response, prompt="Pirate, please", says=["500", "Evaluator backend down"]
    )
    messages = (await api.get(f"/sessions/{session['id']}/messages")).json()
    assert [m["agent"] for m in messages] == ["user", "vibecoder", "system"], "the vibecoder's step is kept"
    assert messages[-1]["content"] == detail
    await assert_next_request_succeeds(api, provider, session)


# --- A connection cut in the middle of the response body -----------------------------------------


async def test_cut_response_without_retries_is_a_clear_502(api, provider, session, socket):
    provider.script(cut_stream(match="vibecoder"))
    response, _ = await vibecode(api, session, "Pirate, please")
    await assert_clear_failure(
        api,
        session,
        socket,
        response,
        prompt="Pirate, please",
        says=["connection to the model provider failed", "without sending complete message body"],
    )
    await assert_next_request_succeeds(api, provider, session)


async def test_cut_response_is_retried_to_success(api, provider, session, socket, settings):
    settings.OPENAI_MAX_RETRIES = 1
    provider.script(cut_stream(match="vibecoder"), *success_steps())
    response, _ = await vibecode(api, session, "Pirate, please")
    await assert_retried_success(api, session, socket, response, prompt="Pirate, please")
    assert len(provider.requests) == 3


# --- A 200 whose body is not JSON ----------------------------------------------------------------


async def test_malformed_json_is_a_clear_502_not_an_internal_error(api, provider, session, socket):
    provider.script(malformed(match="vibecoder"))
    response, _ = await vibecode(api, session, "Pirate, please")
    await assert_clear_failure(
        api, session, socket, response, prompt="Pirate, please", says=["model provider", "not valid JSON"]
    )
    await assert_next_request_succeeds(api, provider, session)


async def test_malformed_json_from_the_evaluator_is_a_clear_502(api, provider, session, socket):
    provider.script(patch(PATCH, "Make the assistant a pirate", match="vibecoder"), malformed(match="evaluator"))
    response, _ = await vibecode(api, session, "Pirate, please")
    await assert_clear_failure(
        api, session, socket, response, prompt="Pirate, please", says=["model provider", "not valid JSON"]
    )
    await assert_next_request_succeeds(api, provider, session)


async def test_evaluator_answer_that_is_not_an_evaluation_is_a_clear_502(api, provider, session, socket):
    provider.script(patch(PATCH, "Make the assistant a pirate", match="vibecoder"), text("Sure, looks fine to me!"))
    response, _ = await vibecode(api, session, "Pirate, please")
    await assert_clear_failure(
        api, session, socket, response, prompt="Pirate, please", says=["model's answer could not be used"]
    )
    await assert_next_request_succeeds(api, provider, session)


# --- A provider that never answers ----------------------------------------------------------------


async def test_hang_longer_than_the_timeout_fails_fast_naming_the_timeout(api, provider, session, socket, settings):
    settings.OPENAI_TIMEOUT_S = 1.0
    provider.script(text("too late", delay=60, match="vibecoder"))
    response, elapsed = await vibecode(api, session, "Pirate, please")
    await assert_clear_failure(
        api, session, socket, response, prompt="Pirate, please", says=["did not answer within 1 s"]
    )
    assert elapsed < 10, f"a 1 s timeout took {elapsed:.1f} s to report"
    settings.OPENAI_TIMEOUT_S = 10.0  # a loaded machine may need more than 1 s for a normal answer
    await assert_next_request_succeeds(api, provider, session)


async def test_slow_answer_within_the_timeout_succeeds(api, provider, session, socket, settings):
    settings.OPENAI_TIMEOUT_S = 5.0
    steps = success_steps()
    provider.script(patch(PATCH, "Make the assistant a pirate", delay=1.0, match="vibecoder"), steps[1])
    response, elapsed = await vibecode(api, session, "Pirate, please")
    await assert_retried_success(api, session, socket, response, prompt="Pirate, please")
    assert elapsed >= 1.0


# --- The same faults on the other model call: refining a commit message ------------------------


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (malformed(), "not valid JSON"),
        (cut_stream(), "without sending complete message body"),
        (error(500, "The server had an error"), "500"),
    ],
    ids=["malformed", "cut", "500"],
)
async def test_refine_message_faults_are_a_clear_502(api, provider, session, fault, says):
    from diffs.tests.builders import PIRATE_CODE, proposed_diff
    from sessions.models import VibecodeSession

    vibecode_session = await VibecodeSession.objects.select_related("project").aget(pk=session["id"])
    diff = await sync_to_async(proposed_diff)(
        project=vibecode_session.project, session=vibecode_session, new_code=PIRATE_CODE, message="change stuff"
    )
    provider.script(fault)
    response = await api.post(f"/diffs/{diff.id}/refine-message", json={"prompt": "Conventional commits"})
    print("POST /diffs/:id/refine-message ->", response.status_code, response.text[:300])
    assert response.status_code == 502, response.text
    assert says in response.json()["detail"]
    assert (await api.get(f"/diffs/{diff.id}")).json()["commit_message"] == "change stuff"
