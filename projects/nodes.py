"""Find the agents a workflow file defines, with the `ast` module (the code is never executed)."""

import ast
from dataclasses import asdict, dataclass
from typing import TypeGuard


@dataclass(frozen=True)
class Node:
    id: str
    name: str | None
    line_start: int
    line_end: int
    tools: list[str]
    handoffs: list[str]


def _is_agent_call(node: ast.AST) -> TypeGuard[ast.Call]:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Subscript):  # Agent[Context](...)
        func = func.value
    return (isinstance(func, ast.Name) and func.id == "Agent") or (
        isinstance(func, ast.Attribute) and func.attr == "Agent"
    )


def _reference(item: ast.AST) -> str:
    """`billing_agent`, `handoff(billing_agent)` and `billing_agent.as_tool(...)` all name `billing_agent`."""
    if isinstance(item, ast.Call):
        if isinstance(item.func, ast.Attribute):
            return ast.unparse(item.func.value)
        if item.args:
            return ast.unparse(item.args[0])
    return ast.unparse(item)


def _names(value: ast.AST | None) -> list[str]:
    if not isinstance(value, ast.List | ast.Tuple):
        return []
    return [_reference(item) for item in value.elts]


def workflow_nodes(*, code: str) -> list[dict]:
    """`[{id, name, line_start, line_end, tools, handoffs}]` for each `name = Agent(...)` at any depth."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    nodes = []
    for statement in ast.walk(tree):
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if not isinstance(target, ast.Name) or not _is_agent_call(value):
            continue
        keywords = {kw.arg: kw.value for kw in value.keywords if kw.arg}
        name_node = keywords.get("name") or (value.args[0] if value.args else None)
        name = name_node.value if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str) else None
        nodes.append(
            Node(
                id=target.id,
                name=name,
                line_start=statement.lineno,
                line_end=statement.end_lineno or statement.lineno,
                tools=_names(keywords.get("tools")),
                handoffs=_names(keywords.get("handoffs")),
            )
        )
    nodes.sort(key=lambda node: node.line_start)
    return [asdict(node) for node in nodes]
