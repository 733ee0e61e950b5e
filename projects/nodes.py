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
        agent = next((kw.value for kw in item.keywords if kw.arg == "agent"), None)  # handoff(agent=...)
        if agent is not None:
            return ast.unparse(agent)
    return ast.unparse(item)


def _names(value: ast.AST | None) -> list[str]:
    if not isinstance(value, ast.List | ast.Tuple):
        return []
    return [_reference(item) for item in value.elts]


def _bindings(statement: ast.AST) -> list[tuple[ast.Name, ast.Call]]:
    """The `(variable, Agent(...) call)` pairs a statement binds: `a = Agent()`, `a: Agent = Agent()`,
    `a = b = Agent()` and `a, b = Agent(), Agent()`."""
    if isinstance(statement, ast.Assign):
        targets, value = statement.targets, statement.value
    elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
        targets, value = [statement.target], statement.value
    else:
        return []
    pairs: list[tuple[ast.AST, ast.AST]] = []
    for target in targets:
        if isinstance(target, ast.Tuple | ast.List) and isinstance(value, ast.Tuple | ast.List):
            if len(target.elts) == len(value.elts):
                pairs.extend(zip(target.elts, value.elts, strict=True))
        else:
            pairs.append((target, value))
    return [(target, call) for target, call in pairs if isinstance(target, ast.Name) and _is_agent_call(call)]


def workflow_nodes(*, code: str) -> list[dict]:
    """`[{id, name, line_start, line_end, tools, handoffs}]` for each variable an `Agent(...)` is assigned
    to, at any depth. An id names one node: when a variable is assigned an agent more than once, the
    module-level assignment that runs last wins (else the last nested one), as when the module runs."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    module_level = {id(statement) for statement in tree.body}
    chosen: dict[str, tuple[bool, Node]] = {}
    for statement in ast.walk(tree):
        for target, call in _bindings(statement):
            keywords = {kw.arg: kw.value for kw in call.keywords if kw.arg}
            name_node = keywords.get("name") or (call.args[0] if call.args else None)
            name = name_node.value if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str) else None
            node = Node(
                id=target.id,
                name=name,
                line_start=statement.lineno,  # type: ignore[attr-defined]  # every binding statement has a position
                line_end=statement.end_lineno or statement.lineno,  # type: ignore[attr-defined]
                tools=_names(keywords.get("tools")),
                handoffs=_names(keywords.get("handoffs")),
            )
            top = id(statement) in module_level
            earlier = chosen.get(node.id)
            if earlier is None or (top, node.line_start) >= (earlier[0], earlier[1].line_start):
                chosen[node.id] = (top, node)
    nodes = sorted((node for _, node in chosen.values()), key=lambda node: (node.line_start, node.id))
    return [asdict(node) for node in nodes]
