"""Tests of the model double against the real openai client and the real openai-agents SDK.

Run: ``.venv/bin/pytest -p no:django model_double/tests -q``
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import agents
import httpx
import openai
import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.models.openai_provider import OpenAIProvider
from openai import AsyncOpenAI
from openai.types.responses import ResponseCompletedEvent, ResponseOutputMessage, ResponseOutputRefusal
from pydantic import BaseModel

from model_double import ModelDouble, classify, script_remote
from model_double.behaviour import (
    append_comment_patch,
    default_output,
    extract_prompt,
    find_python_code,
)
from model_double.responses import refusal_item
from model_double.script import (
    cut_stream,
    default,
    error,
    evaluation,
    function_call,
    malformed,
    output_items,
    patch,
    raw,
    reply,
    step_from_dict,
    text,
)

agents.set_tracing_disabled(True)

REPO_ROOT = Path(__file__).resolve().parents[2]

STARTER = '''"""A minimal OpenAI Agents SDK workflow. Edit it by talking to the vibecoder."""

from agents import Agent

assistant_agent = Agent(
    name="Assistant",
    instructions="You are a helpful assistant. Answer clearly and briefly.",
)
'''


class Evaluation(BaseModel):
    approved: bool
    reasoning: str
    commit_message: str


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def server():
    with ModelDouble() as double:
        yield double


@pytest.fixture
def double(server):
    server.reset()
    server.default_delay = 0.0
    yield server
    server.reset()


def make_client(double: ModelDouble, **kwargs) -> AsyncOpenAI:
    kwargs.setdefault("max_retries", 0)
    return AsyncOpenAI(base_url=double.base_url, api_key="test", **kwargs)


def run_config(client: AsyncOpenAI) -> RunConfig:
    return RunConfig(model_provider=OpenAIProvider(openai_client=client, use_responses=True))


async def run_agent(agent: Agent, prompt: str, client: AsyncOpenAI, *, streamed: bool):
    """Run the agent; for streamed runs also return the raw event types seen."""
    if not streamed:
        return await Runner.run(agent, prompt, run_config=run_config(client)), []
    result = Runner.run_streamed(agent, prompt, run_config=run_config(client))
    seen = []
    async for event in result.stream_events():
        if event.type == "raw_response_event":
            seen.append(event.data.type)
    return result, seen


def make_vibecoder(outcome: str | None = None, calls: list | None = None, workdir: Path | None = None) -> Agent:
    """A vibecoder agent whose submit_patch tool records the call and (optionally) runs git apply."""

    @function_tool
    def submit_patch(patch: str, description: str) -> str:
        """Apply a unified diff to workflow.py."""
        if calls is not None:
            calls.append({"patch": patch, "description": description})
        if workdir is not None:
            done = subprocess.run(
                ["git", "apply", "-"],
                input=patch,
                check=False,
                text=True,
                cwd=workdir,
                capture_output=True,
            )
            return "Patch applied." if done.returncode == 0 else f"Error: {done.stderr.strip()}"
        return outcome or "Patch applied."

    return Agent(
        name="Vibecoder",
        instructions="Edit workflow.py with submit_patch.",
        tools=[submit_patch],
    )


# ------------------------------------------------------------------------------ text


@pytest.mark.parametrize("streamed", [False, True])
async def test_text_answer(double, streamed):
    double.script(text("Hello from the script", usage=(11, 7)))
    result, seen = await run_agent(
        Agent(name="A", instructions="Be nice."),
        "hi there",
        make_client(double),
        streamed=streamed,
    )

    assert result.final_output == "Hello from the script"
    usage = result.context_wrapper.usage
    assert (
        usage.requests,
        usage.input_tokens,
        usage.output_tokens,
        usage.total_tokens,
    ) == (1, 11, 7, 18)
    [request] = double.requests
    assert request["instructions"] == "Be nice."
    assert request["input"][0]["content"] == "hi there"
    assert bool(request.get("stream")) is streamed
    if streamed:
        assert seen[:2] == ["response.created", "response.in_progress"]
        assert seen[-1] == "response.completed"
        for event_type in (
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
        ):
            assert event_type in seen


async def test_raw_client_stream_sequence_numbers(double):
    double.script(text("A fairly long answer that is split into several deltas by the double."))
    client = make_client(double)
    stream = await client.responses.create(model="gpt-test", input="hi", stream=True)
    events = [event async for event in stream]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "A fairly long answer that is split into several deltas by the double."
    assert isinstance(events[-1], ResponseCompletedEvent), events[-1].type
    completed = events[-1].response
    assert completed.status == "completed" and completed.output_text == deltas
    assert completed.usage is not None
    assert completed.usage.input_tokens == 100 and completed.usage.total_tokens == 150


async def test_raw_client_json_response(double):
    double.script(text("plain", usage=(3, 4, 2, 1)))
    response = await make_client(double).responses.create(model="gpt-test", input="hi")
    assert response.object == "response" and response.output_text == "plain"
    assert response.usage is not None
    assert response.usage.input_tokens_details.cached_tokens == 2
    assert response.usage.output_tokens_details.reasoning_tokens == 1
    assert response.usage.total_tokens == 7
    assert response.id.startswith("resp_")


# ------------------------------------------------------------------------------ tools


@pytest.mark.parametrize("streamed", [False, True])
async def test_function_tool_round_trip(double, streamed):
    calls: list = []
    diff = "--- a/workflow.py\n+++ b/workflow.py\n@@ -1 +1,2 @@\n x = 1\n+y = 2\n"
    double.script(
        patch(diff, "Add y", usage=(10, 5), match="vibecoder"),
        text("Done, I added y.", usage=(20, 7), match="vibecoder"),
    )
    result, _ = await run_agent(make_vibecoder(calls=calls), "add y", make_client(double), streamed=streamed)

    assert result.final_output == "Done, I added y."
    assert calls == [{"patch": diff, "description": "Add y"}]
    usage = result.context_wrapper.usage
    assert (
        usage.requests,
        usage.input_tokens,
        usage.output_tokens,
        usage.total_tokens,
    ) == (2, 30, 12, 42)
    second = double.requests[1]["input"]
    call = next(item for item in second if item.get("type") == "function_call")
    output = next(item for item in second if item.get("type") == "function_call_output")
    assert call["name"] == "submit_patch" and output["call_id"] == call["call_id"]
    assert output["output"].startswith("Patch applied")
    assert double.errors == []


async def test_parallel_function_calls_in_one_reply(double):
    seen: list[str] = []

    @function_tool
    def ping(value: str) -> str:
        """Echo."""
        seen.append(value)
        return value

    double.script(
        reply(
            function_call("ping", {"value": "a"}),
            function_call("ping", {"value": "b"}, call_id="call_b"),
        ),
        text("both pinged"),
    )
    agent = Agent(name="P", instructions="ping", tools=[ping])
    result, _ = await run_agent(agent, "go", make_client(double), streamed=True)
    assert result.final_output == "both pinged"
    assert sorted(seen) == ["a", "b"]


# ------------------------------------------------------------------------------ structured output


@pytest.mark.parametrize("streamed", [False, True])
async def test_structured_output(double, streamed):
    double.script(
        evaluation(
            False,
            "Breaks the triage agent.",
            "Reject",
            usage=(40, 9),
            match="evaluator",
        )
    )
    agent = Agent(name="Evaluator", instructions="Judge the patch.", output_type=Evaluation)
    result, _ = await run_agent(agent, "Evaluate this diff", make_client(double), streamed=streamed)

    assert result.final_output == Evaluation(
        approved=False, reasoning="Breaks the triage agent.", commit_message="Reject"
    )
    assert result.context_wrapper.usage.input_tokens == 40
    assert double.requests[0]["text"]["format"]["type"] == "json_schema"
    assert double.errors == []


async def test_default_evaluator_approves(double):
    agent = Agent(name="Evaluator", instructions="Judge the patch.", output_type=Evaluation)
    diff = append_comment_patch(STARTER, "Make it friendlier")
    result, _ = await run_agent(
        agent,
        f"Prompt: make it friendlier\n\n{diff}",
        make_client(double),
        streamed=False,
    )
    assert result.final_output.approved is True
    assert result.final_output.reasoning
    assert result.final_output.commit_message == "Vibecode: Make it friendlier"


async def test_default_generic_structured_output(double):
    class Plan(BaseModel):
        steps: list[str]
        confident: bool
        count: int

    result, _ = await run_agent(
        Agent(name="Planner", output_type=Plan),
        "plan",
        make_client(double),
        streamed=False,
    )
    assert isinstance(result.final_output, Plan)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("streamed", [False, True])
async def test_rate_limit_error(double, streamed):
    double.script(error(429, "Slow down", retry_after=7))
    with pytest.raises(openai.RateLimitError) as caught:
        await run_agent(Agent(name="A"), "hi", make_client(double), streamed=streamed)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    body = caught.value.body
    assert isinstance(body, dict), body
    assert body["message"] == "Slow down"
    assert body["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("streamed", [False, True])
async def test_server_error(double, streamed):
    double.script(error(500, "Boom"))
    with pytest.raises(openai.InternalServerError, match="Boom"):
        await run_agent(Agent(name="A"), "hi", make_client(double), streamed=streamed)


async def test_server_error_then_success_with_client_retries(double):
    double.script(
        error(500, "Transient", retry_after=0.01),
        error(429, retry_after=0.01),
        text("recovered"),
    )
    client = make_client(double, max_retries=2)
    result, _ = await run_agent(Agent(name="A"), "hi", client, streamed=False)
    assert result.final_output == "recovered"
    assert len(double.requests) == 3


async def test_raw_error_body(double):
    double.script(error(503, body="<html>upstream down</html>"))
    with pytest.raises(openai.InternalServerError) as caught:
        await make_client(double).responses.create(model="m", input="x")
    assert caught.value.status_code == 503
    assert "upstream down" in caught.value.response.text


@pytest.mark.parametrize("streamed", [False, True])
async def test_malformed_body_raises(double, streamed):
    double.script(malformed())
    with pytest.raises(ValueError):  # json.JSONDecodeError from the client
        await run_agent(Agent(name="A"), "hi", make_client(double), streamed=streamed)


@pytest.mark.parametrize("streamed", [False, True])
async def test_cut_stream_raises(double, streamed):
    double.script(cut_stream(after_events=3))
    with pytest.raises(openai.APIConnectionError):
        await run_agent(Agent(name="A"), "hi", make_client(double), streamed=streamed)
    # The server keeps serving after an aborted connection.
    double.script(text("still alive"))
    result, _ = await run_agent(Agent(name="A"), "hi", make_client(double), streamed=streamed)
    assert result.final_output == "still alive"


async def test_output_items_are_sent_as_given(double):
    double.script(output_items([refusal_item("I can't help with that.")], usage=(7, 3)))
    client = make_client(double)
    response = await client.responses.create(model="gpt-5", input="hi")
    message = response.output[0]
    print("output:", message.model_dump())
    assert isinstance(message, ResponseOutputMessage)
    assert isinstance(message.content[0], ResponseOutputRefusal)
    assert message.content[0].refusal == "I can't help with that."
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 3)


async def test_raw_answers_the_body_status_and_type_as_given(double):
    double.script(raw({"not": "a response"}), raw("data: {}\n\n", content_type="text/event-stream"))
    async with httpx.AsyncClient() as client:
        first = await client.post(f"{double.base_url}/responses", json={"model": "m", "input": "hi"})
        second = await client.post(f"{double.base_url}/responses", json={"model": "m", "input": "hi"})
    print("raw ->", first.status_code, first.text, "|", second.headers["content-type"], repr(second.text))
    assert (first.status_code, first.json()) == (200, {"not": "a response"})
    assert second.headers["content-type"] == "text/event-stream" and second.text == "data: {}\n\n"
    assert step_from_dict(raw("x", status=201).to_dict()).params["status"] == 201


async def test_match_mismatch_is_recorded(double):
    double.script(text("for the evaluator only", match="evaluator"))
    with pytest.raises(
        openai.InternalServerError,
        match="meant for a evaluator request but got a other",
    ):
        await run_agent(Agent(name="A"), "hi", make_client(double, max_retries=2), streamed=False)
    assert len(double.requests) == 1  # x-should-retry: false stops client retries
    assert len(double.errors) == 1 and "evaluator" in double.errors[0]


# ------------------------------------------------------------------------------ timing


async def test_delay_is_honoured(double):
    double.default_delay = 0.4
    double.script(text("slow", delay=0.6), text("default delay"), text("fast", delay=0))
    client = make_client(double)
    timings = {}
    for _ in range(3):
        started = time.monotonic()
        response = await client.responses.create(model="m", input="x")
        timings[response.output_text] = time.monotonic() - started
    assert timings["slow"] >= 0.6
    assert timings["default delay"] >= 0.4
    assert timings["fast"] < 0.4


async def test_hang_times_out_on_the_client(double):
    double.script(text("never", delay=60))
    client = make_client(double, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await client.responses.create(model="m", input="x")
    assert time.monotonic() - started < 2


async def test_stop_releases_hung_requests():
    double = ModelDouble().start()
    double.script(text("never", delay=60))
    client = AsyncOpenAI(base_url=double.base_url, api_key="t", max_retries=0, timeout=10)
    task = asyncio.create_task(client.responses.create(model="m", input="x"))
    await asyncio.to_thread(double.wait_for_requests, 1)
    started = time.monotonic()
    await asyncio.to_thread(double.stop)
    with pytest.raises(openai.APIConnectionError):
        await task
    assert time.monotonic() - started < 3


async def test_concurrent_delayed_requests_are_not_serialised(double):
    double.default_delay = 0.5
    client = make_client(double)
    agent = Agent(name="A")

    async def one(i: int, streamed: bool):
        result, _ = await run_agent(agent, f"hello {i}", client, streamed=streamed)
        return result.final_output

    started = time.monotonic()
    outputs = await asyncio.gather(*(one(i, i % 2 == 0) for i in range(20)))
    elapsed = time.monotonic() - started
    assert len(outputs) == 20 and all("model double" in out for out in outputs)
    assert 0.5 <= elapsed < 4.0, elapsed  # serialised: 10 s


async def test_fifty_concurrent_raw_requests(double):
    double.script(*[text(f"answer {i}", delay=0.5) for i in range(50)])
    client = make_client(double)
    started = time.monotonic()
    responses = await asyncio.gather(*(client.responses.create(model="m", input=str(i)) for i in range(50)))
    assert time.monotonic() - started < 6.0  # serialised: 25 s
    assert sorted(r.output_text for r in responses) == sorted(f"answer {i}" for i in range(50))


# ------------------------------------------------------------------------------ default behaviour


def _git_workdir(tmp_path: Path, code: str) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "workflow.py").write_text(code)
    return tmp_path


@pytest.mark.parametrize(
    "message_format",
    [
        "{prompt}\n\nCurrent workflow.py:\n```python\n{code}```\n",
        "## Current code\n```python\n{code}\n```\n\n## Request\n{prompt}",
        "Prompt: {prompt}\n\nworkflow.py:\n\n```python\n{code}\n\n```",
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
async def test_default_vibecoder_patch_applies_with_git(double, tmp_path, message_format, streamed):
    workdir = _git_workdir(tmp_path, STARTER)
    calls: list = []
    prompt = 'Change the instructions to "Be a pirate"\nand keep it short'
    message = message_format.format(prompt=prompt, code=STARTER)
    result, _ = await run_agent(
        make_vibecoder(calls=calls, workdir=workdir),
        message,
        make_client(double),
        streamed=streamed,
    )

    assert len(calls) == 1
    assert result.final_output.startswith("Done")
    new_code = (workdir / "workflow.py").read_text()
    assert new_code == STARTER + '# Change the instructions to "Be a pirate" and keep it short\n'
    compile(new_code, "workflow.py", "exec")
    assert "@@ -6,3 +6,4 @@" in calls[0]["patch"]
    assert calls[0]["description"]


@pytest.mark.parametrize("fence", ["```python\n{code}```", "```python\n{code}\n```", "```py\n{code}\n\n```"])
@pytest.mark.parametrize("code", ["x = 1\n", "", "def f():\n    return 1\n"])
def test_default_patch_for_small_files_and_fence_styles(tmp_path, code, fence):
    # The double assumes the file ends with exactly one newline (trailing blank lines in the
    # code block are ignored), so every usual way of fencing the code gives an applicable patch.
    _git_workdir(tmp_path, code)
    message = "add a note\n" + fence.format(code=code)
    request = {
        "input": message,
        "tools": [{"type": "function", "name": "submit_patch"}],
    }
    code_found = find_python_code(request)
    assert code_found is not None
    diff = append_comment_patch(code_found, extract_prompt(message))
    done = subprocess.run(
        ["git", "apply", "-"],
        input=diff,
        text=True,
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, (code, diff, done.stderr)
    assert (tmp_path / "workflow.py").read_text() == code + "# add a note\n"


def test_extract_prompt_variants():
    code = "```python\nx = 1\n```"
    assert extract_prompt(f"Add a tool\n\n{code}") == "Add a tool"
    assert extract_prompt(f"Current workflow.py:\n{code}\n\nAdd a tool") == "Add a tool"
    assert extract_prompt(f"## Request\nAdd a tool?\n\n## Code\n{code}") == "Add a tool?"
    assert extract_prompt(f"User request: Add\na tool\n\nSome notes\n{code}") == "Add\na tool"


def test_prompt_and_code_in_separate_messages():
    request = {
        "tools": [{"type": "function", "name": "submit_patch"}],
        "input": [
            {"role": "user", "content": "Add a greeting agent"},
            {
                "role": "user",
                "content": [
                    {
                        "type": "input_text",
                        "text": f"Current code:\n```python\n{STARTER}```",
                    }
                ],
            },
        ],
    }
    [item] = default_output(request)
    arguments = json.loads(item["arguments"])
    assert arguments["patch"].endswith("+# Add a greeting agent\n")


async def test_default_vibecoder_question_gets_text(double):
    calls: list = []
    message = f"What does this workflow do?\n\n```python\n{STARTER}```"
    result, _ = await run_agent(make_vibecoder(calls=calls), message, make_client(double), streamed=False)
    assert calls == []
    assert "What does this workflow do?" in result.final_output


async def test_default_vibecoder_gives_up_after_failed_patch(double):
    calls: list = []
    agent = make_vibecoder(outcome="Error: the patch does not apply", calls=calls)
    result, _ = await run_agent(agent, f"rename it\n```python\n{STARTER}```", make_client(double), streamed=True)
    assert len(calls) == 1
    assert "giving up" in result.final_output
    assert "the patch does not apply" in result.final_output


async def test_default_vibecoder_without_code(double):
    calls: list = []
    result, _ = await run_agent(make_vibecoder(calls=calls), "add an agent", make_client(double), streamed=False)
    assert calls == []
    assert "could not find" in result.final_output


async def test_default_step_with_match(double):
    double.script(default(match="vibecoder", delay=0))
    calls: list = []
    await run_agent(
        make_vibecoder(calls=calls),
        f"x\n```python\n{STARTER}```",
        make_client(double),
        streamed=False,
    )
    assert len(calls) == 1 and double.errors == []


def test_classify():
    assert classify({"tools": [{"type": "function", "name": "submit_patch"}]}) == "vibecoder"
    schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}
    assert classify({"text": {"format": {"type": "json_schema", "name": "x", "schema": schema}}}) == "evaluator"
    assert classify({"text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}}) == "structured"
    assert classify({"input": "hi"}) == "other"


# ------------------------------------------------------------------------------ control API


def _http(double: ModelDouble, method: str, path: str, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(
        f"{double.url}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


async def test_http_control_endpoints(double):
    answer = await asyncio.to_thread(
        _http,
        double,
        "POST",
        "/_double/script",
        [
            {"kind": "text", "content": "scripted over http", "usage": [5, 6]},
            {"kind": "error", "status": 429},
        ],
    )
    assert answer == {"queued": 2, "pending": 2}
    assert len(await asyncio.to_thread(_http, double, "GET", "/_double/script")) == 2
    client = make_client(double)
    response = await client.responses.create(model="m", input="first")
    assert response.output_text == "scripted over http"
    assert response.usage is not None and response.usage.total_tokens == 11
    with pytest.raises(openai.RateLimitError):
        await client.responses.create(model="m", input="second")
    requests = await asyncio.to_thread(_http, double, "GET", "/_double/requests")
    assert [r["input"] for r in requests] == ["first", "second"]
    await asyncio.to_thread(script_remote, double.base_url, [patch("diff", "d")])
    assert await asyncio.to_thread(_http, double, "POST", "/_double/reset") == {"reset": True}
    assert double.requests == [] and double.pending_steps == []


def test_bad_script_is_rejected(double):
    with pytest.raises(urllib.error.HTTPError) as caught:
        _http(double, "POST", "/_double/script", [{"kind": "nonsense"}])
    assert caught.value.code == 400
    assert "unknown step kind" in json.loads(caught.value.read())["error"]["message"]


def test_step_dict_round_trip():
    steps = [
        text("hi", usage=(1, 2), delay=0.1, match="other"),
        patch("diff", "desc", call_id="call_1"),
        evaluation(True, "ok", "msg"),
        error(429, "slow", retry_after=1.5),
        malformed(),
        cut_stream(4),
        reply(text("a"), function_call("f", {"x": 1})),
        default(delay=0.2),
    ]
    for step in steps:
        data = json.loads(json.dumps(step.to_dict()))
        assert step_from_dict(data) == step


def test_keep_alive_with_json_and_chunked_sse(double):
    double.script(text("one"), text("two"), text("three"))
    conn = http.client.HTTPConnection("127.0.0.1", double.port, timeout=5)
    bodies = []
    for stream in (False, True, False):
        conn.request(
            "POST",
            "/v1/responses",
            body=json.dumps({"model": "m", "input": "x", "stream": stream}),
            headers={"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        assert resp.status == 200
        bodies.append(resp.read().decode())
        assert not resp.will_close
    conn.close()
    assert json.loads(bodies[0])["output"][0]["content"][0]["text"] == "one"
    assert "event: response.completed" in bodies[1] and '"delta": "two"' in bodies[1]
    assert json.loads(bodies[2])["output"][0]["content"][0]["text"] == "three"


def test_cli_serves_default_behaviour():
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_double", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None  # stdout=PIPE
    try:
        first = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", first)
        assert match, first
        assert "OPENAI_BASE_URL=" in proc.stdout.readline() + proc.stdout.readline()
        base_url = match.group(1)
        body = json.dumps({"model": "m", "input": "hello cli"}).encode()
        req = urllib.request.Request(
            f"{base_url}/responses",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            answer = json.loads(resp.read())
        assert "hello cli" in answer["output"][0]["content"][0]["text"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
