"""The playground: run the workflow itself, in the sandbox, on an input (`POST /projects/:id/playground`),
and scenario tests, which judge such a run.

The workflow runs with the real openai-agents SDK inside the sandbox (`testcases/playground_child.py`);
its model calls go through the service's relay (`testcases/playground_relay.py`), so the sandbox keeps no
network and no key. The run starts from the agent asked for (a node id) or the entry agent: the first
node, in file order, that no other node hands off to. Steps are broadcast as `playground_event` while it
runs (not stored: the answer holds them all). With a `session`, the conversation is kept in an
SQLiteSession under the project's media (`repository.playground_db_path`) and the next call goes on from it.
"""

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents import SQLiteSession
from asgiref.sync import sync_to_async
from django.conf import settings

from diffs.models import Diff
from projects import repository
from projects.models import Project
from projects.nodes import workflow_nodes
from sessions import events
from sessions.vibecoder.provider import provider_configured, provider_require
from testcases import sandbox
from testcases.playground_relay import SANDBOX_SOCKET, SHARED_DIR_NAME, PlaygroundRelay
from testcases.sandbox import SandboxResult, sandbox_run
from vibegrapher.errors import Conflict, InvalidInput, SandboxUnavailable

logger = logging.getLogger(__name__)

CHILD = Path(__file__).resolve().with_name("playground_child.py")
CONFIG_FILE = "playground.json"  # the child reads it from its work directory
MAX_TURNS = 10
OUTPUT_CAP = 4_000

COMPLETED, TIMEOUT, ERROR = "completed", "timeout", "error"


@dataclass
class PlaygroundOutcome:
    status: str  # completed | timeout | error
    final_output: str | None = None
    last_agent: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    token_usage: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    output: str = ""  # what the workflow printed (capped)
    execution_time_ms: int = 0
    new_items: list[dict[str, Any]] = field(default_factory=list)


def playground_entry_agent(*, nodes: list[dict]) -> str | None:
    """The first node no other node hands off to; with a cycle through every node, the first node."""
    targets = {target for node in nodes for target in node["handoffs"] if target != node["id"]}
    for node in nodes:
        if node["id"] not in targets:
            return node["id"]
    return nodes[0]["id"] if nodes else None


def playground_start_agent(*, code: str, agent: str | None) -> str:
    """The node id the run starts from; an unknown one is a 400, a workflow without agents a 409."""
    nodes = workflow_nodes(code=code)
    if not nodes:
        raise Conflict("The workflow defines no agent to run: add an Agent(...) to it first.")
    if agent is None:
        entry = playground_entry_agent(nodes=nodes)
        assert entry is not None
        return entry
    known = [node["id"] for node in nodes]
    if agent not in known:
        raise InvalidInput(
            f"Unknown agent {agent!r}: the workflow's agents are {', '.join(known)}.",
            errors={"agent": [f"Not one of the workflow's node ids: {', '.join(known)}."]},
        )
    return agent


async def playground_execute(
    *, workflow_code: str, agent: str, input_items: list[dict[str, Any]], on_step: Any = None
) -> PlaygroundOutcome:
    """Run the workflow from `agent` on `input_items` in the sandbox, its model calls relayed. No database.

    Raises ProviderNotConfigured (no key) and SandboxUnavailable; every other failure is the outcome's
    `error` or `timeout` status."""
    provider_require()
    relay = PlaygroundRelay(
        base_url=settings.OPENAI_BASE_URL,
        api_key=settings.OPENAI_API_KEY,
        model=settings.PLAYGROUND_MODEL,
        token_budget=settings.PLAYGROUND_TOKEN_BUDGET,
        timeout_s=settings.OPENAI_TIMEOUT_S,
        on_step=on_step,
    )
    async with relay:
        config = {
            "socket": SANDBOX_SOCKET,
            "agent": agent,
            "input": input_items,
            "max_turns": MAX_TURNS,
            "max_retries": settings.OPENAI_MAX_RETRIES,
            "timeout_s": min(settings.OPENAI_TIMEOUT_S, settings.PLAYGROUND_TIMEOUT_S),
        }
        try:
            result = await asyncio.to_thread(
                sandbox_run,
                workflow_code=workflow_code,
                test_code=CHILD.read_text(encoding="utf-8"),
                timeout_s=settings.PLAYGROUND_TIMEOUT_S,
                memory_mb=settings.SANDBOX_MEMORY_MB,
                startup_s=settings.SANDBOX_STARTUP_S,
                files={CONFIG_FILE: json.dumps(config)},
                shared_dirs={SHARED_DIR_NAME: relay.shared_dir},
            )
        except sandbox.SandboxUnavailable as exc:
            raise SandboxUnavailable(str(exc)) from exc
    return _outcome(result=result, relay=relay)


def _outcome(*, result: SandboxResult, relay: PlaygroundRelay) -> PlaygroundOutcome:
    outcome = PlaygroundOutcome(
        status=ERROR,
        steps=relay.steps,
        token_usage=relay.totals.as_dict(),
        output=result.output[-OUTPUT_CAP:],
        execution_time_ms=result.execution_time_ms,
    )
    if result.status == "timeout":
        outcome.status, outcome.error = TIMEOUT, f"The playground run was stopped: {result.error}."
    elif relay.budget_exceeded:
        outcome.error = f"The playground's token budget of {relay.token_budget} tokens was used up ({result.error})."
    elif result.status != "passed":
        outcome.error = f"The workflow failed: {result.error}"
    elif relay.result is None:
        outcome.error = "The workflow ended without a result."
    else:
        outcome.status = COMPLETED
        outcome.final_output = relay.result.get("final_output")
        outcome.last_agent = relay.result.get("last_agent")
        outcome.new_items = [item for item in relay.result.get("new_items") or [] if isinstance(item, dict)]
    return outcome


def _user_item(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _diff_of(*, project: Project, diff_id: uuid.UUID) -> Diff:
    diff = Diff.objects.filter(pk=diff_id).first()
    if diff is None or diff.project_id != project.id:
        whose = "no diff" if diff is None else "a diff of another project"
        raise InvalidInput(
            f"diff_id {diff_id} is {whose}: give a diff of this project, or leave it out to run main.",
            errors={"diff_id": [f"Not a diff of project {project.id}."]},
        )
    return diff


async def playground_run(
    *,
    project: Project,
    input: str,
    diff_id: uuid.UUID | None = None,
    agent: str | None = None,
    session: str | None = None,
) -> dict[str, Any]:
    """`POST /projects/:id/playground`: the workflow at main (or as the diff leaves it; main unchanged)
    answers `input`. Returns `{run_id, status, final_output, last_agent, steps, token_usage, error, output,
    diff_id, agent, session}`; steps are broadcast as `playground_event` as they happen."""
    provider_require()
    if diff_id is not None:
        diff = await sync_to_async(_diff_of)(project=project, diff_id=diff_id)
        code = diff.new_code
    else:
        head = await asyncio.to_thread(repository.repository_head, path=repository.repository_path(slug=project.slug))
        code = head.code
    start = playground_start_agent(code=code, agent=agent)
    memory = (
        SQLiteSession(f"playground_{session}", str(repository.playground_db_path(slug=project.slug)))
        if session is not None
        else None
    )
    history = [dict(item) for item in await memory.get_items()] if memory is not None else []
    run_id = uuid.uuid4()

    def broadcast(step: dict[str, Any]) -> None:
        events.unstored_event_send(
            project_id=project.id,
            event_type=events.PLAYGROUND_EVENT,
            data=events.playground_event_data(run_id=run_id, diff_id=diff_id, step=step),
        )

    try:
        outcome = await playground_execute(
            workflow_code=code, agent=start, input_items=[*history, _user_item(input)], on_step=broadcast
        )
        if memory is not None and outcome.status == COMPLETED:
            await memory.add_items([_user_item(input), *outcome.new_items])  # type: ignore[list-item]
    finally:
        if memory is not None:
            memory.close()
    logger.info(
        "playground: project=%s diff=%s agent=%s status=%s steps=%d tokens=%s ms=%d",
        project.id,
        diff_id,
        start,
        outcome.status,
        len(outcome.steps),
        outcome.token_usage.get("total_tokens"),
        outcome.execution_time_ms,
    )
    return {
        "run_id": str(run_id),
        "status": outcome.status,
        "final_output": outcome.final_output,
        "last_agent": outcome.last_agent,
        "steps": outcome.steps,
        "token_usage": outcome.token_usage,
        "error": outcome.error,
        "output": outcome.output,
        "diff_id": str(diff_id) if diff_id else None,
        "agent": start,
        "session": session,
    }


# --- Scenario tests --------------------------------------------------------------------------------


def scenario_judge(*, scenario: dict[str, Any], outcome: PlaygroundOutcome) -> SandboxResult:
    """The TestRun result of a scenario: passed when the run completed and met every expectation."""
    lines = [f"Input: {scenario['input']!r}", f"Playground status: {outcome.status}"]
    if outcome.status != COMPLETED:
        lines.append(f"Error: {outcome.error}")
        if outcome.output:
            lines.append(outcome.output)
        status = "timeout" if outcome.status == TIMEOUT else "error"
        return SandboxResult(status, "\n".join(lines), outcome.error, outcome.execution_time_ms)
    lines += [f"Last agent: {outcome.last_agent!r}", f"Final output: {outcome.final_output!r}"]
    unmet = []
    expected_agent = scenario.get("expect_last_agent")
    if expected_agent is not None and outcome.last_agent != expected_agent:
        unmet.append(f"expected the last agent to be {expected_agent!r}, got {outcome.last_agent!r}")
    expected_text = scenario.get("expect_output_contains")
    if expected_text is not None and expected_text not in (outcome.final_output or ""):
        unmet.append(f"expected the final output to contain {expected_text!r}, got {outcome.final_output!r}")
    lines += [f"Unmet: {reason}" for reason in unmet] or ["Every expectation met."]
    error = "; ".join(unmet) or None
    return SandboxResult("failed" if unmet else "passed", "\n".join(lines), error, outcome.execution_time_ms)


def scenario_run(*, scenario: dict[str, Any], workflow_code: str) -> SandboxResult:
    """Blocking, no database, from a thread without an event loop: run the scenario's input through the
    playground (entry agent, no memory, no broadcast) and judge it."""
    if not provider_configured():
        message = "A scenario test needs the model provider: OPENAI_API_KEY is not set."
        return SandboxResult("error", message, message, 0)
    try:
        start = playground_start_agent(code=workflow_code, agent=None)
    except InvalidInput as exc:
        return SandboxResult("error", exc.detail, exc.detail, 0)
    outcome = asyncio.run(
        playground_execute(workflow_code=workflow_code, agent=start, input_items=[_user_item(scenario["input"])])
    )
    return scenario_judge(scenario=scenario, outcome=outcome)
