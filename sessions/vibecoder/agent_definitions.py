"""The two agents: the vibecoder that patches `workflow.py`, and the evaluator that reviews patches."""

import functools
import json
from dataclasses import dataclass, field

from agents import (
    Agent,
    AgentOutputSchema,
    FunctionToolResult,
    ModelBehaviorError,
    ModelSettings,
    RunContextWrapper,
    ToolsToFinalOutputResult,
    function_tool,
)
from django.conf import settings
from openai.types.shared import Reasoning
from pydantic import BaseModel, Field

from sessions.vibecoder.patching import PatchError, patch_apply
from testcases.gate import GateOutcome, gate_run

PATCH_APPLIED = "Patch applied"

VIBECODER_INSTRUCTIONS = """\
You edit one Python file, workflow.py, which defines OpenAI Agents SDK agents (`Agent(...)`), their
tools and handoffs. The user asks for changes in plain language.

- To change the code, call submit_patch once with a unified diff against the current workflow.py
  (`@@ -l,n +l,n @@` hunks with 3 lines of unchanged context, ' ' / '-' / '+' line prefixes) and a
  one-sentence description. Context and removed lines must match the file exactly.
- If submit_patch returns an error, read it, fix the patch and call submit_patch again.
- If the user only asks a question, answer in text and do not call submit_patch.
- Keep the file runnable: valid Python, imports at the top, agents defined before they are used.
"""

EVALUATOR_INSTRUCTIONS = """\
You review a proposed change to workflow.py, a Python file of OpenAI Agents SDK agents. Approve it
only if it does what the user asked, keeps the file valid and runnable, and changes nothing else.
If you reject it, say precisely what must change. Always give a concise conventional commit message
(imperative mood, at most 72 characters on the first line) describing the change.
"""


class Evaluation(BaseModel):
    approved: bool = Field(description="Whether the change does what was asked, correctly.")
    reasoning: str = Field(description="Why; when rejecting, exactly what must change.")
    commit_message: str = Field(description="Commit message for the change.")


class CommitMessage(BaseModel):
    commit_message: str = Field(description="The improved commit message.")


@dataclass
class VibecodeContext:
    """What one vibecoder turn patches, and the proposal it produced."""

    code: str
    # The project whose quick tests gate each patch; None runs no gate.
    project_id: str | None = None
    proposal: str | None = None
    patch: str | None = None
    description: str | None = None
    patch_errors: list[str] = field(default_factory=list)
    # The call id of the first submit_patch call in the model's latest answer: the one applied.
    patch_call_id: str | None = None
    # The gate's outcome for the applied proposal; every gate run of the turn, for the benchmark.
    gate: GateOutcome | None = None
    gate_runs: list[GateOutcome] = field(default_factory=list)


def _check_syntax(code: str) -> None:
    compile(code, "workflow.py", "exec", dont_inherit=True)


def patch_arguments(arguments: str) -> tuple[dict | None, str | None]:
    """submit_patch's arguments as the model sent them: (the object, None) when the tool can use them,
    else (None, why not, in words the model can act on)."""
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        return None, f"the arguments are not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if not isinstance(value, dict):
        return None, f"the arguments are a JSON {type(value).__name__}, not an object"
    problems = [
        f'"{name}" is missing'
        if name not in value
        else f'"{name}" must be a string, not {json.dumps(value[name])[:40]}'
        for name in ("patch", "description")
        if not isinstance(value.get(name), str)
    ]
    return (None, "; ".join(problems)) if problems else (value, None)


def _arguments_error(ctx: RunContextWrapper[VibecodeContext], error: Exception) -> str:
    """What the model is told when the SDK cannot turn its submit_patch arguments into a call (it
    raises before the tool runs). Any other failure of the tool is ours, and fails the run."""
    _, problem = patch_arguments(getattr(ctx, "tool_arguments", "") or "")
    if not isinstance(error, ModelBehaviorError) or problem is None:
        raise error
    ctx.context.patch_errors.append(f"Unusable arguments: {problem}")
    return (
        f"Error: the patch was not applied: {problem}. Call submit_patch with a JSON object holding two "
        'strings, "patch" and "description".'
    )


def _gate_failure_text(outcome: GateOutcome) -> str:
    lines = ["Error: the patch applies and compiles, but the project's quick tests fail on it; it was not applied."]
    for name, status, error, output in outcome.failures:
        lines.append(f"Test {name!r}: {status}" + (f" ({error})" if error else ""))
        if output.strip():
            lines.append(f"Output:\n{output.rstrip()}")
    lines.append("Fix the patch so these tests pass and call submit_patch again.")
    return "\n".join(lines)


@function_tool(failure_error_function=_arguments_error)
async def submit_patch(ctx: RunContextWrapper[VibecodeContext], patch: str, description: str) -> str:
    """Apply a patch to workflow.py.

    Args:
        patch: A unified diff (or V4A patch) against the current workflow.py.
        description: One sentence describing the change.
    """
    call_id = getattr(ctx, "tool_call_id", None)
    if ctx.context.patch_call_id is not None and call_id != ctx.context.patch_call_id:
        # Parallel calls would each patch the same code and the last would silently win.
        return (
            "Error: this patch was not applied: only the first submit_patch call of an answer is applied. "
            "Put every change in one patch."
        )
    try:
        new_code = patch_apply(original=ctx.context.code, patch=patch)
        _check_syntax(new_code)
    except PatchError as exc:
        ctx.context.patch_errors.append(str(exc))
        return f"Error: the patch was not applied. {exc}"
    except SyntaxError as exc:
        reason = f"{exc.msg} (line {exc.lineno}, column {exc.offset}): {(exc.text or '').rstrip()}"
        ctx.context.patch_errors.append(f"SyntaxError: {reason}")
        return f"Error: the patched file is not valid Python. SyntaxError: {reason}"
    if ctx.context.project_id is not None:
        outcome = await gate_run(project_id=ctx.context.project_id, workflow_code=new_code)
        ctx.context.gate_runs.append(outcome)
        if not outcome.passed:
            text = _gate_failure_text(outcome)
            ctx.context.patch_errors.append(text)
            return text
        ctx.context.gate = outcome
    ctx.context.proposal, ctx.context.patch, ctx.context.description = new_code, patch, description
    return f"{PATCH_APPLIED}: {description}"


def _stop_when_patch_applied(
    ctx: RunContextWrapper[VibecodeContext], results: list[FunctionToolResult]
) -> ToolsToFinalOutputResult:
    """End the turn once a patch applied; a refused patch goes back to the model to fix."""
    for result in results:
        if result.tool.name == "submit_patch" and str(result.output).startswith(PATCH_APPLIED):
            return ToolsToFinalOutputResult(is_final_output=True, final_output=str(result.output))
    return ToolsToFinalOutputResult(is_final_output=False)


def _model_settings(model: str, effort: str) -> ModelSettings:
    if model.startswith(("gpt-5", "o1", "o3", "o4")):
        # REASONING_EFFORT is free text from the environment; pydantic checks it against the API's values.
        return ModelSettings(reasoning=Reasoning.model_validate({"effort": effort}))
    return ModelSettings()


# Agents are immutable configuration; building one (and its output schema) costs milliseconds,
# so each is built once per model/effort setting.


@functools.cache
def _vibecoder(model: str, effort: str) -> Agent[VibecodeContext]:
    return Agent(
        name="vibecoder",
        instructions=VIBECODER_INSTRUCTIONS,
        model=model,
        model_settings=_model_settings(model, effort),
        tools=[submit_patch],
        tool_use_behavior=_stop_when_patch_applied,
    )


@functools.cache
def _evaluator(model: str, effort: str) -> Agent:
    return Agent(
        name="evaluator",
        instructions=EVALUATOR_INSTRUCTIONS,
        model=model,
        model_settings=_model_settings(model, effort),
        # A schema object, not the class: the SDK would rebuild the JSON schema on every turn.
        output_type=AgentOutputSchema(Evaluation),
    )


@functools.cache
def _commit_message_writer(model: str, effort: str) -> Agent:
    return Agent(
        name="evaluator",
        instructions=EVALUATOR_INSTRUCTIONS + "\nNow only propose a better commit message for the change shown.",
        model=model,
        model_settings=_model_settings(model, effort),
        output_type=AgentOutputSchema(CommitMessage),
    )


def vibecoder_agent() -> Agent[VibecodeContext]:
    return _vibecoder(settings.VIBECODER_MODEL, settings.REASONING_EFFORT)


def evaluator_agent() -> Agent:
    return _evaluator(settings.EVALUATOR_MODEL, settings.REASONING_EFFORT)


def commit_message_agent() -> Agent:
    return _commit_message_writer(settings.EVALUATOR_MODEL, settings.REASONING_EFFORT)
