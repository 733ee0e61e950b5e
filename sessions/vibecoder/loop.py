"""The vibecode loop: vibecoder proposes, evaluator reviews, at most VIBECODE_MAX_ROUNDS rounds.

Model calls stream: while a step is written its output is broadcast as `message_delta` events
(`deltas.TurnStream`), and once its response is complete the step is stored as a ConversationMessage
and broadcast from the `on_llm_end` hook, so a client sees each step the moment the model answers,
long before the run ends.
"""

import asyncio
import functools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from agents import (
    Agent,
    MaxTurnsExceeded,
    ModelBehaviorError,
    ModelRefusalError,
    ModelResponse,
    ModelRetryBackoffSettings,
    ModelRetrySettings,
    ModelSettings,
    RetryPolicyContext,
    RunConfig,
    RunContextWrapper,
    RunHooks,
    Runner,
)
from asgiref.sync import sync_to_async
from django.conf import settings
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
)

from diffs.services import DEFAULT_COMMIT_MESSAGE, diff_create_proposed
from sessions import events, messages, runs
from sessions.models import ConversationMessage, VibecodeRun
from sessions.vibecoder import prompts
from sessions.vibecoder.agent_definitions import (
    Evaluation,
    VibecodeContext,
    evaluator_agent,
    patch_arguments,
    vibecoder_agent,
)
from sessions.vibecoder.deltas import TurnStream
from sessions.vibecoder.memory import memory_bounded, memory_kept, memory_open
from sessions.vibecoder.patching import unified_diff
from sessions.vibecoder.provider import model_provider, raw_response_pop
from sessions.vibecoder.tokens import TokenTotals
from testcases.gate import gate_summary

logger = logging.getLogger(__name__)

# What the provider or the model did wrong: the run fails with the reason (502), nothing of ours broke.
# A vibecoder's refusal is its answer; an evaluator's refusal leaves the change without a verdict.
PROVIDER_ERRORS = (openai.APIError, ModelBehaviorError, ModelRefusalError)


class TokenBudgetExceeded(Exception):
    """The run used more model tokens than VIBECODE_TOKEN_BUDGET allows."""


@dataclass
class RunScope:
    """What every step of one run shares."""

    run_id: str
    session_id: str
    project_id: str
    node_id: str | None
    prompt: str
    trace_id: str
    base_code: str
    base_commit: str
    memory_path: str
    memory_key: str
    evaluator_key: str
    totals: TokenTotals = field(default_factory=TokenTotals)
    step_messages: list[ConversationMessage] = field(default_factory=list)
    # A stored VibecodeRun, whose steps are stored only while it holds its session (refine-message is none).
    is_run: bool = True


def _text_of(response: ModelResponse) -> str:
    """The text of the answer's messages; a refusal part counts as text (it is what the model said)."""
    parts: list[str] = []
    for item in response.output:
        if isinstance(item, ResponseOutputMessage):
            for content in item.content or ():
                if isinstance(content, ResponseOutputText):
                    parts.append(content.text or "")
                elif isinstance(content, ResponseOutputRefusal):
                    parts.append(content.refusal or "")
    return "".join(parts)


@dataclass
class PatchCall:
    """The answer's first `submit_patch` call, as the tool will see it."""

    call_id: str
    patch: str | None  # None: the tool cannot use the arguments (see `patch_arguments`)
    description: str


def _patch_call(response: ModelResponse) -> PatchCall | None:
    for item in response.output:
        if isinstance(item, ResponseFunctionToolCall) and item.name == "submit_patch":
            arguments, _ = patch_arguments(item.arguments)
            if arguments is None:
                return PatchCall(call_id=item.call_id, patch=None, description="")
            return PatchCall(call_id=item.call_id, patch=arguments["patch"], description=arguments["description"])
    return None


def _step_content(agent: str, text: str, call: PatchCall | None) -> str:
    if agent == "evaluator":
        return _evaluation_text(text)
    if call is None:
        return text
    if call.patch is None:
        return "Called submit_patch with arguments that could not be read; the error went back to the model."
    return call.description or "Proposed a patch."


def _usage_of(response: ModelResponse, *, model: str, agent: str, iteration: int | None) -> dict[str, Any]:
    usage = response.usage
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.input_tokens_details.cached_tokens or 0,
        "reasoning_tokens": usage.output_tokens_details.reasoning_tokens or 0,
        "model": model,
        "agent": agent,
        "iteration": iteration,
    }


def _full_response(response: ModelResponse, model: str) -> dict[str, Any]:
    raw = raw_response_pop(response.response_id)
    if raw is not None:
        return raw
    # Streamed or otherwise uncaptured: rebuild the same shape from what the SDK parsed.
    return {
        "id": response.response_id,
        "object": "response",
        "model": model,
        "output": [item.model_dump(mode="json") for item in response.output],
        "usage": {
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "total_tokens": response.usage.total_tokens,
        },
    }


class StepRecorder(RunHooks[Any]):
    """Logs, stores and broadcasts each model call of one agent in one round (no round: iteration None).
    With a `stream` (a streamed turn), each step is stored once everything it streamed has been sent."""

    def __init__(
        self, scope: RunScope, *, agent: str, model: str, iteration: int | None, stream: TurnStream | None = None
    ) -> None:
        self.scope, self.agent, self.model, self.iteration = scope, agent, model, iteration
        self.stream = stream

    async def on_llm_start(self, context: RunContextWrapper, agent: Agent, system_prompt, input_items) -> None:
        last = input_items[-1] if input_items else {}
        preview = last.get("content") if isinstance(last, dict) else last
        if not isinstance(preview, str):
            preview = json.dumps(preview, default=str)
        logger.info(
            "OPENAI REQUEST: agent=%s model=%s run=%s input=%s...",
            self.agent,
            self.model,
            self.scope.run_id,
            preview[:200],
        )

    async def on_llm_end(self, context: RunContextWrapper, agent: Agent, response: ModelResponse) -> None:
        message_id = None
        if self.stream is not None:
            step = await self.stream.completed(response.response_id)
            message_id, full_response = step.message_id, step.response
        else:
            full_response = _full_response(response, self.model)
        usage = _usage_of(response, model=self.model, agent=self.agent, iteration=self.iteration)
        text, call = _text_of(response), _patch_call(response)
        if isinstance(context.context, VibecodeContext):
            # Only this call is applied; the tool refuses any other submit_patch call of the same answer.
            context.context.patch_call_id = call.call_id if call is not None else None
        logger.info(
            "OPENAI RESPONSE: agent=%s id=%s output=%s...",
            self.agent,
            response.response_id,
            (text or (f"submit_patch {call.description or call.patch or ''}" if call else ""))[:200],
        )
        logger.info(
            "💵 OPENAI TOKENS: prompt=%s, completion=%s, total=%s",
            usage["prompt_tokens"],
            usage["completion_tokens"],
            usage["total_tokens"],
        )
        self.scope.totals.add(usage)
        # A run's step is stored only while the run holds its session; refine-message's are plain messages.
        record = (
            functools.partial(runs.step_record, run_id=self.scope.run_id)
            if self.scope.is_run
            else messages.message_record
        )
        message = await sync_to_async(record)(
            **({"id": message_id} if message_id is not None else {}),
            session_id=self.scope.session_id,
            project_id=self.scope.project_id,
            role=ConversationMessage.Role.ASSISTANT,
            agent=self.agent,
            content=_step_content(self.agent, text, call),
            iteration=self.iteration,
            patch_preview="\n".join(call.patch.splitlines()[:10]) if call and call.patch is not None else None,
            token_usage=usage,
            last_response_id=response.response_id,
            trace_id=self.scope.trace_id,
            openai_response=full_response,
        )
        self.scope.step_messages.append(message)
        budget = settings.VIBECODE_TOKEN_BUDGET
        if budget and self.scope.totals.total_tokens > budget:
            raise TokenBudgetExceeded(
                f"The run used {self.scope.totals.total_tokens} tokens, over its budget of {budget}; it was stopped."
            )


def _evaluation_text(text: str) -> str:
    try:
        return Evaluation.model_validate_json(text).reasoning
    except ValueError:
        return text


def _stream_cut(context: RetryPolicyContext) -> bool:
    """An answer whose stream broke off after its headers: the openai client retries what fails up to
    the headers itself, and the SDK never replays a stream that already sent output."""
    cause = context.error.__cause__ if isinstance(context.error, openai.APIConnectionError) else None
    return isinstance(cause, httpx2.RemoteProtocolError | httpx2.ReadError)


@functools.cache
def _model_settings(max_retries: int) -> ModelSettings:
    backoff = ModelRetryBackoffSettings(initial_delay=0.5, max_delay=8.0, multiplier=2.0, jitter=True)
    return ModelSettings(retry=ModelRetrySettings(max_retries=max_retries, backoff=backoff, policy=_stream_cut))


def run_config(scope: RunScope, *, workflow_name: str = "vibecode") -> RunConfig:
    """How every model call of the service is made: the configured provider, the run's trace, the retry
    policy, and the memory budget (for the calls that send a session's history)."""
    config = RunConfig(
        model_provider=model_provider(),
        trace_id=scope.trace_id,
        group_id=scope.session_id,
        workflow_name=workflow_name,
        tracing_disabled=not settings.OPENAI_TRACING,
        session_input_callback=memory_bounded(),
    )
    # Set after __init__, which would check the (already typed) settings by resolving RunConfig's type
    # hints anew each time: 2.6 ms of CPU per run (bench/vibecode_bench.py (a)).
    config.model_settings = _model_settings(settings.OPENAI_MAX_RETRIES)
    return config


def _turn_stream(scope: RunScope, *, agent: str, iteration: int) -> TurnStream:
    return TurnStream(
        project_id=scope.project_id,
        session_id=scope.session_id,
        run_id=scope.run_id if scope.is_run else None,
        agent=agent,
        iteration=iteration,
    )


async def _vibecoder_turn(scope: RunScope, memory, *, iteration: int, feedback: str | None) -> VibecodeContext:
    if feedback is None:
        request = prompts.vibecoder_request(prompt=scope.prompt, code=scope.base_code, node_id=scope.node_id)
    else:
        request = prompts.vibecoder_retry(
            prompt=scope.prompt, code=scope.base_code, node_id=scope.node_id, feedback=feedback
        )
    context = VibecodeContext(code=scope.base_code, project_id=scope.project_id)
    stream = _turn_stream(scope, agent="vibecoder", iteration=iteration)
    result = Runner.run_streamed(
        vibecoder_agent(),
        request,
        context=context,
        session=memory,
        max_turns=settings.VIBECODE_MAX_TURNS,
        hooks=StepRecorder(
            scope, agent="vibecoder", model=settings.VIBECODER_MODEL, iteration=iteration, stream=stream
        ),
        run_config=run_config(scope),
    )
    try:
        await stream.consume(result)
    except ModelRefusalError as exc:
        context.description = exc.refusal  # the model declined the request: that is its answer
        return context
    if context.proposal is None:
        context.description = str(result.final_output or "")
        if not context.description.strip():
            raise ModelBehaviorError("The vibecoder answered with neither text nor a patch.")
    return context


async def _evaluator_turn(
    scope: RunScope, memory, *, iteration: int, diff: str, new_code: str, tests: list[dict]
) -> Evaluation:
    stream = _turn_stream(scope, agent="evaluator", iteration=iteration)
    # One model call per review (SPEC: a run makes at most 3 evaluator calls).
    result = Runner.run_streamed(
        evaluator_agent(),
        prompts.evaluator_request(prompt=scope.prompt, diff=diff, new_code=new_code, tests=tests),
        session=memory,
        max_turns=1,
        hooks=StepRecorder(
            scope, agent="evaluator", model=settings.EVALUATOR_MODEL, iteration=iteration, stream=stream
        ),
        run_config=run_config(scope),
    )
    try:
        await stream.consume(result)
    except MaxTurnsExceeded as exc:
        raise ModelBehaviorError("The evaluator answered without a verdict (no JSON review).") from exc
    return result.final_output_as(Evaluation, raise_if_incorrect_type=True)


def _result(scope: RunScope, run: VibecodeRun, status: str, **fields: Any) -> dict[str, Any]:
    return events.vibecode_result_data(run, status=status, token_usage=scope.totals, **fields)


async def vibecode(run: VibecodeRun, scope: RunScope) -> dict[str, Any]:
    """Run the rounds; returns the run's result. Provider failures and the run's limits
    (`RUN_LIMITS`, see `limit_error_text`) propagate to the caller."""
    vibecoder_memory, evaluator_memory = await asyncio.gather(
        _memory(scope.memory_path, scope.memory_key), _memory(scope.memory_path, scope.evaluator_key)
    )
    return await _rounds(run, scope, vibecoder_memory, evaluator_memory)


async def _memory(path: str, key: str):
    """The session's memory: kept open from its session's creation, else opened in a worker thread."""
    kept = memory_kept(db_path=path, key=key)
    return kept if kept is not None else await asyncio.to_thread(memory_open, db_path=path, key=key)


RUN_LIMITS = (TokenBudgetExceeded, MaxTurnsExceeded)


def limit_error_text(exc: BaseException) -> str:
    if isinstance(exc, MaxTurnsExceeded):
        return f"The vibecoder did not produce a patch that applies within {settings.VIBECODE_MAX_TURNS} turns."
    return str(exc)


async def _rounds(run: VibecodeRun, scope: RunScope, vibecoder_memory, evaluator_memory) -> dict[str, Any]:
    feedback: str | None = None
    for iteration in range(1, settings.VIBECODE_MAX_ROUNDS + 1):
        proposal = await _vibecoder_turn(scope, vibecoder_memory, iteration=iteration, feedback=feedback)
        if proposal.proposal is None:
            return _result(scope, run, "answered", content=proposal.description)
        diff = await asyncio.to_thread(unified_diff, old=scope.base_code, new=proposal.proposal)
        evaluation = await _evaluator_turn(
            scope,
            evaluator_memory,
            iteration=iteration,
            diff=diff,
            new_code=proposal.proposal,
            tests=gate_summary(proposal.gate),
        )
        if evaluation.approved:
            # A blank message would make the commit fall back to the default; the diff says so from the start.
            commit_message = evaluation.commit_message.strip() or DEFAULT_COMMIT_MESSAGE
            diff_row = await sync_to_async(diff_create_proposed)(
                run_id=scope.run_id,
                session_id=scope.session_id,
                project_id=scope.project_id,
                base_commit=scope.base_commit,
                base_code=scope.base_code,
                diff_content=diff,
                new_code=proposal.proposal,
                vibecoder_prompt=scope.prompt,
                evaluator_reasoning=evaluation.reasoning,
                commit_message=commit_message,
                messages=[message.id for message in scope.step_messages if message.iteration == iteration],
                gate_run_ids=proposal.gate.run_ids if proposal.gate else [],
            )
            return _result(
                scope,
                run,
                "pending_human_review",
                diff_id=str(diff_row.id),
                commit_message=commit_message,
                content=proposal.description,
                evaluator_reasoning=evaluation.reasoning,
            )
        feedback = evaluation.reasoning
    return _result(scope, run, "max_iterations", error="Max iterations reached", final_feedback=feedback)
