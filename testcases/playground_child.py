"""The playground's side inside the sandbox (never imported by the server).

``testcases.playground`` hands this file to the sandbox as the test to run, beside ``workflow.py`` and
``playground.json`` (the agent to start from, the input items, limits). It runs the workflow with the
real openai-agents SDK, its openai client pointed at the relay's Unix socket (``relay/relay.sock``)
with a placeholder key and tracing off, reports each step to the relay as it happens and the outcome
at the end. Tools the workflow defines run here, in the sandbox. An exception ends the run: the
sandbox reports it as the run's error.
"""

import asyncio
import importlib
import json
from typing import Any

import httpx2
from agents import (
    Agent,
    HandoffOutputItem,
    ItemHelpers,
    MessageOutputItem,
    Runner,
    ToolCallItem,
    ToolCallOutputItem,
    set_default_openai_api,
    set_default_openai_client,
    set_tracing_disabled,
)
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

CONFIG_FILE = "playground.json"
RELAY_URL = "http://playground-relay"
PLACEHOLDER_KEY = "sandbox-has-no-key"  # the relay adds the real one


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump", None)
    return json.dumps(dump() if callable(dump) else value, default=str)


class _Steps:
    """Turns the SDK's run items into playground steps; a tool call is one step once its output is known."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}

    def of(self, item: Any) -> dict[str, Any] | None:
        if isinstance(item, MessageOutputItem):
            return {"agent": item.agent.name, "kind": "message", "content": ItemHelpers.text_message_output(item)}
        if isinstance(item, ToolCallItem):
            raw = item.raw_item
            call_id = getattr(raw, "call_id", None) or getattr(raw, "id", None) or ""
            self.calls[call_id] = {
                "agent": item.agent.name,
                "kind": "tool_call",
                "tool": getattr(raw, "name", None) or getattr(raw, "type", "tool"),
                "arguments": getattr(raw, "arguments", None),
            }
            return None
        if isinstance(item, ToolCallOutputItem):
            output = item.raw_item
            call_id = output.get("call_id") if isinstance(output, dict) else getattr(output, "call_id", None)
            step = self.calls.pop(str(call_id or ""), None) or {
                "agent": item.agent.name,
                "kind": "tool_call",
                "tool": None,
            }
            return {**step, "output": _as_text(item.output)}
        if isinstance(item, HandoffOutputItem):
            return {"agent": item.source_agent.name, "kind": "handoff", "to": item.target_agent.name}
        return None


async def _play(config: dict[str, Any]) -> None:
    http = DefaultAsyncHttpxClient(transport=httpx2.AsyncHTTPTransport(uds=config["socket"]))
    client = AsyncOpenAI(
        base_url=f"{RELAY_URL}/v1",
        api_key=PLACEHOLDER_KEY,
        http_client=http,
        max_retries=config["max_retries"],
        timeout=config["timeout_s"],
    )
    set_tracing_disabled(True)
    set_default_openai_client(client, use_for_tracing=False)
    set_default_openai_api("responses")

    workflow = importlib.import_module("workflow")  # beside this file, in the sandbox
    agent = getattr(workflow, config["agent"], None)
    if not isinstance(agent, Agent):
        raise LookupError(f"workflow.{config['agent']} is not an Agent")
    run = Runner.run_streamed(agent, config["input"], max_turns=config["max_turns"])
    steps = _Steps()
    async for event in run.stream_events():
        if event.type != "run_item_stream_event":
            continue
        step = steps.of(event.item)
        if step is not None:
            (await http.post(f"{RELAY_URL}/_playground/step", json=step)).raise_for_status()
    result = {
        "final_output": None if run.final_output is None else _as_text(run.final_output),
        "last_agent": run.last_agent.name,
        "new_items": [item.to_input_item() for item in run.new_items],
    }
    (
        await http.post(f"{RELAY_URL}/_playground/result", json=json.loads(json.dumps(result, default=str)))
    ).raise_for_status()
    await client.close()


def main() -> None:
    with open(CONFIG_FILE, encoding="utf-8") as fh:
        config = json.load(fh)
    asyncio.run(_play(config))


if __name__ == "__main__":
    main()
