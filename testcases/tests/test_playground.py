"""The playground: the workflow itself runs in the real sandbox with the real SDK, its model calls relayed
by the service to the model double (the only thing replaced)."""

import time
import uuid

import pytest
from asgiref.sync import sync_to_async

from diffs.tests.builders import PIRATE_CODE, project_with_session, proposed_diff
from model_double.script import error, function_call, text
from projects import repository
from projects.services import project_create
from projects.starter_code import STARTER_WORKFLOW, TRIAGE_WORKFLOW
from tests.samples import NOT_STRINGS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

HELPFUL = "You are a helpful assistant. Answer clearly and briefly."
RESULT_FIELDS = {
    "run_id",
    "status",
    "final_output",
    "last_agent",
    "steps",
    "token_usage",
    "error",
    "output",
    "diff_id",
    "agent",
    "session",
}


async def _project(api, name: str = "Playground", code: str | None = None) -> dict:
    response = await api.post("/projects", json={"name": name, **({"code": code} if code else {})})
    assert response.status_code == 201, response.json()
    return response.json()


async def _play(api, project_id: str, **body) -> dict:
    response = await api.post(f"/projects/{project_id}/playground", json=body)
    print(f"POST /projects/:id/playground {body} ->", response.status_code, response.json())
    assert response.status_code == 200, response.json()
    return response.json()


async def test_the_answer_is_the_models_reply_to_the_workflows_own_agent(api, provider, settings):
    project = await _project(api, code=STARTER_WORKFLOW.replace(")\n", '    model="gpt-4o",\n)\n'))
    provider.script(text("Hello from the double", usage=(12, 5)))
    body = await _play(api, project["id"], input="Hi there")

    assert set(body) == RESULT_FIELDS
    assert body["status"] == "completed" and body["error"] is None
    assert body["final_output"] == "Hello from the double"
    assert body["last_agent"] == "Assistant" and body["agent"] == "assistant_agent"
    assert body["steps"] == [{"index": 0, "agent": "Assistant", "kind": "message", "content": "Hello from the double"}]
    print("token usage:", body["token_usage"])
    assert body["token_usage"]["prompt_tokens"] == 12 and body["token_usage"]["completion_tokens"] == 5
    assert body["token_usage"]["total_tokens"] == 17 and body["token_usage"]["model_calls"] == 1

    [request] = provider.requests
    print("the double received:", request)
    assert request["instructions"] == HELPFUL  # the workflow's agent, through the relay
    assert request["input"][-1] == {"role": "user", "content": "Hi there"}
    assert request["model"] == settings.PLAYGROUND_MODEL  # not the workflow's gpt-4o
    assert provider.authorizations == ["Bearer test-key"]  # the relay added the key


async def test_handoffs_and_tools_run_in_the_sandbox_and_are_steps(api, provider):
    project = await _project(api, "Triage", code=TRIAGE_WORKFLOW)
    provider.script(
        function_call("transfer_to_billing_agent", {}, usage=(30, 3)),
        function_call("lookup_order", {"order_id": "A42"}, usage=(40, 4)),
        text("Your order A42 has shipped.", usage=(50, 5)),
    )
    body = await _play(api, project["id"], input="Where is my order A42?")

    assert body["status"] == "completed", body
    assert body["agent"] == "triage_agent"  # the entry agent: no one hands off to it
    assert body["last_agent"] == "Billing Agent"
    assert body["final_output"] == "Your order A42 has shipped."
    kinds = [(step["agent"], step["kind"]) for step in body["steps"]]
    assert kinds == [("Triage Agent", "handoff"), ("Billing Agent", "tool_call"), ("Billing Agent", "message")]
    assert body["steps"][0]["to"] == "Billing Agent"
    tool = body["steps"][1]
    assert tool["tool"] == "lookup_order" and tool["output"] == "Order A42 has shipped and arrives in 2 days."
    assert body["token_usage"]["total_tokens"] == 132 and body["token_usage"]["model_calls"] == 3
    instructions = [request["instructions"] for request in provider.requests]
    assert instructions[0].startswith("You read each customer request")
    assert instructions[1].endswith(
        "You handle billing questions. Use lookup_order for order status. Be precise about amounts."
    )


async def test_a_named_agent_starts_the_run(api, provider):
    project = await _project(api, "Triage start", code=TRIAGE_WORKFLOW)
    provider.script(text("Press the reset button."))
    body = await _play(api, project["id"], input="I cannot log in", agent="technical_agent")
    assert body["last_agent"] == "Technical Support Agent" and body["agent"] == "technical_agent"
    assert "You solve technical problems" in provider.requests[0]["instructions"]


async def test_on_a_diff_the_diffs_version_runs_and_main_is_unchanged(api, provider):
    project, session = await sync_to_async(project_with_session)(name="Playground diff")
    diff = await sync_to_async(proposed_diff)(project=project, session=session, new_code=PIRATE_CODE)
    provider.script(text("Arr!"), text("Hello."))

    on_diff = await _play(api, str(project.id), input="Hi", diff_id=str(diff.id))
    assert on_diff["status"] == "completed" and on_diff["diff_id"] == str(diff.id)
    assert provider.requests[0]["instructions"].startswith("You are a pirate assistant.")

    after = (await api.get(f"/projects/{project.id}")).json()
    assert after["current_code"] == STARTER_WORKFLOW and after["current_commit"] == project.current_commit
    on_main = await _play(api, str(project.id), input="Hi")
    assert on_main["final_output"] == "Hello."
    assert provider.requests[1]["instructions"] == HELPFUL


async def test_a_run_past_the_playground_timeout_ends_with_timeout(api, provider, settings):
    settings.PLAYGROUND_TIMEOUT_S = 1.0
    project = await _project(api)
    provider.script(text("Too late", delay=30))
    started = time.monotonic()
    body = await _play(api, project["id"], input="Hi")
    elapsed = time.monotonic() - started
    print(f"answered after {elapsed:.1f} s:", body["status"], body["error"])
    assert body["status"] == "timeout" and "1.0 s" in body["error"]
    assert body["final_output"] is None
    assert elapsed < 25  # the answer did not wait for the model's (30 s)


KEY = "sk-playground-secret-0123456789abcdef"

KEY_HUNTER = '''
import os
from pathlib import Path

from agents import Agent, function_tool

SECRET = "sk-playground-" + "secret-0123456789abcdef"


@function_tool
def find_key() -> str:
    """Look everywhere this process can for the key."""
    found = [f"env {name}" for name, value in os.environ.items() if SECRET in value]
    places = [*Path("/proc").glob("*/environ"), *Path("/proc").glob("*/cmdline")]
    for root in (Path.cwd(), Path.home(), Path("/tmp")):
        places += [path for path in root.rglob("*") if path.is_file()]
    for path in places:
        try:
            if SECRET.encode() in path.read_bytes()[:5_000_000]:
                found.append(str(path))
        except OSError:
            pass
    return "found in " + ", ".join(found) if found else f"absent from {len(places)} files"


hunter_agent = Agent(name="Hunter", instructions="Find the key.", tools=[find_key])
'''


async def test_the_key_is_nowhere_in_the_sandbox(api, provider, settings, monkeypatch):
    settings.OPENAI_API_KEY = KEY
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the server's own environment has it too
    project = await _project(api, "Key hunt", code=KEY_HUNTER)
    provider.script(function_call("find_key", {}), text("Looked."))
    body = await _play(api, project["id"], input="Find the key")
    assert body["status"] == "completed", body
    [tool] = [step for step in body["steps"] if step["kind"] == "tool_call"]
    print("the workflow's tool reports:", tool["output"])
    assert tool["output"].startswith("absent from ")
    assert provider.authorizations == [f"Bearer {KEY}", f"Bearer {KEY}"]


async def test_steps_arrive_as_playground_event_over_a_websocket(api, provider, socket_factory):
    project = await _project(api, "Events", code=TRIAGE_WORKFLOW)
    socket = socket_factory(f"/ws/projects/{project['id']}")
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_until("subscribed")
    provider.script(function_call("transfer_to_general_agent", {}), text("We are open 9 to 5."))
    body = await _play(api, project["id"], input="When are you open?")

    first = await socket.receive_until("playground_event")
    second = await socket.receive_until("playground_event")
    print("playground_event:", first, second)
    assert "seq" not in first  # live progress, not stored: the answer holds every step
    assert first["data"]["run_id"] == body["run_id"] and first["data"]["diff_id"] is None
    assert (first["data"]["kind"], first["data"]["agent"], first["data"]["to"]) == (
        "handoff",
        "Triage Agent",
        "General Agent",
    )
    assert (second["data"]["kind"], second["data"]["content"]) == ("message", "We are open 9 to 5.")


async def test_a_session_keeps_the_conversation_and_goes_with_the_project(api, provider):
    project = await _project(api, "Memory")
    provider.script(text("Nice to meet you, Ada."), text("Your name is Ada."), text("Who are you?"))
    await _play(api, project["id"], input="My name is Ada.", session="chat-1")
    await _play(api, project["id"], input="What is my name?", session="chat-1")
    await _play(api, project["id"], input="What is my name?", session="other")

    second, other = provider.requests[1]["input"], provider.requests[2]["input"]
    print("second call's input:", second)
    assert second[0] == {"role": "user", "content": "My name is Ada."}
    assert "Nice to meet you, Ada." in str(second) and second[-1] == {"role": "user", "content": "What is my name?"}
    assert other == [{"role": "user", "content": "What is my name?"}]

    db = await sync_to_async(repository.playground_db_path)(slug=project["slug"])
    assert db.exists() and not repository.conversations_db_path(slug=project["slug"]).exists()
    assert (await api.delete(f"/projects/{project['id']}")).status_code == 204
    assert not db.exists()


async def test_the_token_budget_stops_the_run(api, provider, settings):
    settings.PLAYGROUND_TOKEN_BUDGET = 50
    project = await _project(api, "Budget", code=TRIAGE_WORKFLOW)
    provider.script(function_call("transfer_to_general_agent", {}, usage=(60, 5)), text("never sent"))
    body = await _play(api, project["id"], input="Hello")
    assert body["status"] == "error" and "token budget of 50 tokens" in body["error"]
    assert len(provider.requests) == 1 and body["token_usage"]["total_tokens"] == 65


async def test_bad_input_is_a_clear_4xx(api, provider):
    project = await _project(api)
    other = await _project(api, "Other")
    other_project, other_session = await sync_to_async(project_with_session)(name="Other diffs")
    foreign = await sync_to_async(proposed_diff)(project=other_project, session=other_session, new_code=PIRATE_CODE)
    url = f"/projects/{project['id']}/playground"
    cases = [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": "   "}, "input"),
        ({"input": "Hi", "diff_id": "not-a-uuid"}, "diff_id"),
        ({"input": "Hi", "diff_id": str(uuid.uuid4())}, "diff_id"),
        ({"input": "Hi", "diff_id": str(foreign.id)}, "diff_id"),
        ({"input": "Hi", "agent": "nobody"}, "agent"),
        ({"input": "Hi", "session": "../escape"}, "session"),
        ({"input": "Hi", "session": ""}, "session"),
        *(({"input": value}, "input") for value in NOT_STRINGS),
        *(({"input": "Hi", "agent": value}, "agent") for value in NOT_STRINGS),
        *(({"input": "Hi", "session": value}, "session") for value in NOT_STRINGS),
    ]
    for body, field in cases:
        response = await api.post(url, json=body)
        print(body, "->", response.status_code, response.json())
        assert response.status_code == 400, (body, response.json())
        assert response.json()["detail"] and field in response.json()["errors"], (body, response.json())
    assert (await api.post(url, content=b"[1, 2]", headers={"Content-Type": "application/json"})).status_code == 400
    missing = await api.post(f"/projects/{uuid.uuid4()}/playground", json={"input": "Hi"})
    assert missing.status_code == 404 and missing.json()["detail"]
    assert other["id"] != project["id"] and provider.requests == []


async def test_without_a_provider_the_playground_says_why(api, no_provider):
    project = await sync_to_async(project_create)(name="No key")
    response = await api.post(f"/projects/{project.id}/playground", json={"input": "Hi"})
    print(response.status_code, response.json())
    assert response.status_code == 503 and "OPENAI_API_KEY" in response.json()["detail"]


# --- Scenario tests: a test case that is a conversation, judged on the playground's answer ----------------


async def _scenario_test(api, project_id: str, scenario: dict, name: str = "greets") -> dict:
    response = await api.post(
        f"/projects/{project_id}/tests", json={"name": name, "scenario": scenario, "quick_test": True}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["scenario"] == scenario and response.json()["test_code"] is None
    return response.json()


async def test_a_scenario_test_passes_when_the_workflow_answers_as_expected(api, provider):
    project = await _project(api)
    test = await _scenario_test(
        api, project["id"], {"input": "Say hello", "expect_last_agent": "Assistant", "expect_output_contains": "hello"}
    )
    provider.script(text("Well hello there!", usage=(9, 4)))
    run = (await api.post(f"/tests/{test['id']}/run")).json()
    print("scenario run:", run)
    assert run["status"] == "passed", run
    assert "Final output: 'Well hello there!'" in run["output"] and "Every expectation met." in run["output"]
    [request] = provider.requests
    assert request["instructions"] == HELPFUL and request["input"][-1] == {"role": "user", "content": "Say hello"}


async def test_a_scenario_test_fails_naming_each_unmet_expectation(api, provider):
    project = await _project(api, "Triage", code=TRIAGE_WORKFLOW)
    test = await _scenario_test(
        api,
        project["id"],
        {
            "input": "My card was charged twice",
            "expect_last_agent": "Billing Agent",
            "expect_output_contains": "refund",
        },
    )
    provider.script(text("Please contact support.", usage=(9, 4)))  # the triage agent answers itself
    run = (await api.post(f"/tests/{test['id']}/run")).json()
    print("scenario run:", run)
    assert run["status"] == "failed", run
    assert "expected the last agent to be 'Billing Agent', got 'Triage Agent'" in run["error"]
    assert "expected the final output to contain 'refund'" in run["error"]


async def test_a_scenario_test_whose_workflow_fails_is_an_error_not_a_pass(api, provider):
    project = await _project(api)
    test = await _scenario_test(api, project["id"], {"input": "Hi"})
    provider.script(error(400, "The model refused the request"))  # not retried
    run = (await api.post(f"/tests/{test['id']}/run")).json()
    print("scenario run:", run)
    assert run["status"] == "error", run
    assert "Playground status: error" in run["output"]
