"""A run's model output streams to WebSocket clients as `message_delta` events while it is written:
before its step's `conversation_message`, adding up to what the model streamed, coalesced to at
most one event per step per 50 ms, and never stored (a client replaying with `?after=0` gets none)."""

import asyncio
import statistics
import time
import uuid

import pytest

from model_double.script import evaluation, function_call, text
from sessions.vibecoder.deltas import DELTA_INTERVAL_S
from tests.samples import PIRATE_PATCH as PATCH

pytestmark = pytest.mark.django_db(transaction=True)

DELTA_FIELDS = {"session_id", "run_id", "message_id", "agent", "iteration", "kind", "delta", "index"}
LONG_REASONING = "The change is what was asked and nothing else. " * 40  # ~80 text deltas of the evaluator's JSON


class Watcher:
    """Reads a socket in the background, stamping each event with the time it arrived."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.events: list[tuple[float, dict]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self.socket.receive(timeout=30)
            self.events.append((time.monotonic(), message))
            if message["type"] == "vibecode_response":
                return

    def of_type(self, event_type: str) -> list[tuple[float, dict]]:
        return [(at, message) for at, message in self.events if message["type"] == event_type]


async def watched_run(api, socket_factory, session, prompt: str) -> tuple[Watcher, dict, float]:
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    assert (await socket.connect())[0]
    await socket.receive_until("subscribed")
    watcher = Watcher(socket)
    started = time.monotonic()
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": prompt})
    wall = time.monotonic() - started
    print("POST messages ->", response.status_code, response.text[:300])
    await asyncio.wait_for(watcher.task, 30)
    return watcher, response.json(), wall


async def streamed_output(api, message_id: str) -> dict[str, str]:
    """What the model streamed for a stored step, by delta kind, read from its stored full response."""
    full = (await api.get(f"/messages/{message_id}/full")).json()["openai_response"]
    streamed = {"text": "", "reasoning": "", "tool_arguments": ""}
    for item in full["output"]:
        if item["type"] == "message":
            streamed["text"] += "".join(part.get("text") or part.get("refusal") or "" for part in item["content"])
        elif item["type"] == "function_call":
            streamed["tool_arguments"] += item["arguments"]
        elif item["type"] == "reasoning":
            streamed["reasoning"] += "".join(part["text"] for part in item["summary"])
    return {kind: value for kind, value in streamed.items() if value}


async def test_deltas_stream_each_step_before_its_message_and_add_up_to_the_answer(
    api, provider, session, socket_factory
):
    provider.stream_gap = 0.004  # ~100 small deltas, written over ~0.5 s, as a model writes
    provider.script(
        function_call(
            "submit_patch",
            {"patch": PATCH, "description": "Make the assistant a pirate"},
            reasoning="The instructions are the only place the tone is set.",
            usage=(100, 20),
            match="vibecoder",
        ),
        evaluation(True, LONG_REASONING, "Make the assistant speak like a pirate", usage=(200, 40), match="evaluator"),
    )
    watcher, body, wall = await watched_run(api, socket_factory, session, "Make it talk like a pirate")
    assert body["status"] == "pending_human_review"

    order = [message for _, message in watcher.events]
    deltas = [message for message in order if message["type"] == "message_delta"]
    steps = [m for m in order if m["type"] == "conversation_message" and m["data"]["role"] == "assistant"]
    print(f"{len(deltas)} message_delta events over a {wall:.2f} s run; steps: {[s['data']['agent'] for s in steps]}")
    assert [step["data"]["agent"] for step in steps] == ["vibecoder", "evaluator"]
    run_ids = {delta["data"]["run_id"] for delta in deltas}
    assert len(run_ids) == 1 and str(uuid.UUID(run_ids.pop()))
    for delta in deltas:
        assert set(delta) == {"type", "data"}, "a delta is not stored, so it has no seq"
        assert set(delta["data"]) == DELTA_FIELDS
        assert delta["data"]["session_id"] == session["id"]

    for step in steps:
        message_id = step["data"]["id"]
        own = [delta for delta in deltas if delta["data"]["message_id"] == message_id]
        assert own, f"the {step['data']['agent']} step streamed nothing"
        assert {(d["data"]["agent"], d["data"]["iteration"]) for d in own} == {(step["data"]["agent"], 1)}
        assert [delta["data"]["index"] for delta in own] == list(range(len(own)))
        assert max(order.index(delta) for delta in own) < order.index(step), "a delta came after its step"
        joined: dict[str, str] = {}
        for delta in own:
            joined[delta["data"]["kind"]] = joined.get(delta["data"]["kind"], "") + delta["data"]["delta"]
        expected = await streamed_output(api, message_id)
        print(step["data"]["agent"], {kind: len(value) for kind, value in joined.items()}, "characters by kind")
        assert joined == expected

    evaluator_id = steps[1]["data"]["id"]
    stamps = [at for at, m in watcher.of_type("message_delta") if m["data"]["message_id"] == evaluator_id]
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)]
    model_deltas = len(LONG_REASONING) // 24
    print(f"evaluator: {model_deltas}+ model deltas sent as {len(stamps)} events, gaps (s): {gaps}")
    assert 2 <= len(stamps) < model_deltas / 4, "the model's deltas were not coalesced"
    assert len(stamps) <= wall / DELTA_INTERVAL_S + 1
    assert statistics.median(gaps) >= DELTA_INTERVAL_S * 0.8


async def test_a_text_answer_streams_its_reasoning_summary_and_text(api, provider, session, socket_factory):
    answer = "It has one agent, Assistant, which answers in a friendly tone."
    provider.script(text(answer, reasoning="Read the workflow: one Agent(...).", match="vibecoder"))
    watcher, body, _ = await watched_run(api, socket_factory, session, "What agents are there?")
    assert (body["status"], body["content"]) == ("answered", answer)
    (_, step), *_ = [(at, m) for at, m in watcher.of_type("conversation_message") if m["data"]["agent"] == "vibecoder"]
    own = [m["data"] for _, m in watcher.of_type("message_delta") if m["data"]["message_id"] == step["data"]["id"]]
    print("deltas:", own)
    # Instant model: the whole answer arrives within one interval; each kind is one event, in the model's order.
    assert [(delta["kind"], delta["delta"], delta["index"]) for delta in own] == [
        ("reasoning", "Read the workflow: one Agent(...).", 0),
        ("text", answer, 1),
    ]


async def test_deltas_are_not_replayed(api, provider, session, socket_factory):
    provider.script(text("It has one agent, Assistant.", match="vibecoder"))
    watcher, _, _ = await watched_run(api, socket_factory, session, "What agents are there?")
    assert watcher.of_type("message_delta"), "the live client saw no delta"

    replay = socket_factory(f"/ws/projects/{session['project_id']}?after=0")
    assert (await replay.connect())[0]
    types = []
    while "vibecode_response" not in types:
        types.append((await replay.receive())["type"])
    print("replayed:", types)
    assert "message_delta" not in types
    assert types.count("conversation_message") == 2
