"""What each agent is told: the request, the code, and the feedback of earlier rounds."""

from projects.nodes import workflow_nodes


def _code_block(code: str) -> str:
    return f"```python\n{code}\n```" if not code.endswith("\n") else f"```python\n{code}```"


def _node_focus(code: str, node_id: str | None) -> str:
    if not node_id:
        return ""
    lines = code.splitlines()
    for node in workflow_nodes(code=code):
        if node["id"] == node_id:
            snippet = "\n".join(lines[node["line_start"] - 1 : node["line_end"]])
            return (
                f"This conversation is about the agent `{node_id}` (name {node['name']!r}), "
                f"lines {node['line_start']}-{node['line_end']} of workflow.py:\n{_code_block(snippet)}\n\n"
            )
    return f"This conversation is about the agent `{node_id}`, which the current workflow.py no longer defines.\n\n"


def vibecoder_request(*, prompt: str, code: str, node_id: str | None) -> str:
    return f"{_node_focus(code, node_id)}Request: {prompt}\n\nCurrent workflow.py:\n{_code_block(code)}"


def vibecoder_retry(*, prompt: str, code: str, node_id: str | None, feedback: str) -> str:
    return (
        f"{_node_focus(code, node_id)}The evaluator rejected your last patch:\n{feedback}\n\n"
        f"Original request: {prompt}\n\nWrite a new patch against the current workflow.py "
        f"(your rejected change was not applied):\n{_code_block(code)}"
    )


def _test_lines(tests: list[dict]) -> str:
    quick = [t for t in tests if t["name"] != "import check"]
    if not quick:
        return "Quick tests: the project has no quick tests (the patched module imports and its agents construct).\n\n"
    listed = "\n".join(f"- {t['name']}: {t['status']}" for t in tests)
    return f"Quick tests run on the patched workflow in the sandbox:\n{listed}\n\n"


def evaluator_request(*, prompt: str, diff: str, new_code: str, tests: list[dict] | None = None) -> str:
    return (
        f"User request: {prompt}\n\nProposed change (unified diff):\n```diff\n{diff}```\n\n"
        f"{_test_lines(tests or [])}"
        f"workflow.py after the change:\n{_code_block(new_code)}"
    )


def commit_message_request(*, diff: str, current_message: str, hint: str | None) -> str:
    hint_text = f"\n\nWhat the user wants from the message: {hint}" if hint else ""
    return f"Change:\n```diff\n{diff}```\n\nCurrent commit message: {current_message}{hint_text}"


def human_rejection_request(*, feedback: str | None, diff: str, original_prompt: str) -> str:
    """The request of the run that follows a human rejecting a diff."""
    reason = feedback.strip() if feedback and feedback.strip() else NO_FEEDBACK
    diff = diff if diff.endswith("\n") else f"{diff}\n"
    return (
        f"A human reviewer rejected your last change. Their feedback: {reason}\n\n"
        f"The rejected change (it was not applied):\n```diff\n{diff}```\n\n"
        f"Original request: {original_prompt}\n\nMake a new change that addresses the feedback."
    )


NO_FEEDBACK = "(none given) The change is not what they want; propose a different approach."
