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
    entry_point: bool


def is_agent_call(node: ast.AST) -> TypeGuard[ast.Call]:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Subscript):  # Agent[Context](...)
        func = func.value
    return (isinstance(func, ast.Name) and func.id == "Agent") or (
        isinstance(func, ast.Attribute) and func.attr == "Agent"
    )


def reference(item: ast.AST) -> str:
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
    return [(target, call) for target, call in pairs if isinstance(target, ast.Name) and is_agent_call(call)]


def agent_bindings(tree: ast.Module) -> dict[str, tuple[ast.stmt, ast.Call]]:
    """Variable -> (statement, `Agent(...)` call) for each variable an agent is assigned to, at any depth.
    An id names one node: when a variable is assigned an agent more than once, the module-level
    assignment that runs last wins (else the last nested one), as when the module runs."""
    module_level = {id(statement) for statement in tree.body}
    chosen: dict[str, tuple[bool, ast.stmt, ast.Call]] = {}
    for statement in ast.walk(tree):
        for target, call in _bindings(statement):
            assert isinstance(statement, ast.stmt)
            top = id(statement) in module_level
            earlier = chosen.get(target.id)
            if earlier is None or (top, statement.lineno) >= (earlier[0], earlier[1].lineno):
                chosen[target.id] = (top, statement, call)
    ordered = sorted(chosen.items(), key=lambda item: (item[1][1].lineno, item[0]))
    return {variable: (statement, call) for variable, (_, statement, call) in ordered}


def agent_name(call: ast.Call) -> str | None:
    keywords = {kw.arg: kw.value for kw in call.keywords if kw.arg}
    name_node = keywords.get("name") or (call.args[0] if call.args else None)
    return name_node.value if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str) else None


def parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


_RUNNER_METHODS = {"run", "run_sync", "run_streamed"}


def entry_points(tree: ast.Module) -> set[str]:
    """The agents a `Runner.run(agent, ...)` (or `run_sync`, `run_streamed`) starts, anywhere in the file."""
    started: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        runner = node.func.value
        if isinstance(runner, ast.Name) and runner.id == "Runner" and node.func.attr in _RUNNER_METHODS:
            starting = (
                node.args[0]
                if node.args
                else next((kw.value for kw in node.keywords if kw.arg == "starting_agent"), None)
            )
            if isinstance(starting, ast.Name):
                started.add(starting.id)
    return started


def added_later(tree: ast.Module) -> dict[tuple[str, str], list[ast.expr]]:
    """`(agent, "handoffs"|"tools") -> items` added after the `Agent(...)` call by module-level
    `agent.handoffs.append(x)` or `agent.tools.extend([...])`, as the SDK's customer-service example does."""
    added: dict[tuple[str, str], list[ast.expr]] = {}
    for statement in tree.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.args):
            continue
        owner = call.func.value
        if not (isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name)):
            continue
        if owner.attr not in ("handoffs", "tools") or call.func.attr not in ("append", "extend"):
            continue
        items = [call.args[0]] if call.func.attr == "append" else _items(call.args[0])
        added.setdefault((owner.value.id, owner.attr), []).extend(items)
    return added


def _items(value: ast.expr | None) -> list[ast.expr]:
    return list(value.elts) if isinstance(value, ast.List | ast.Tuple) else []


def agent_items(
    call: ast.Call, variable: str, field: str, later: dict[tuple[str, str], list[ast.expr]]
) -> list[ast.expr]:
    """What the agent lists in `field` (`tools` or `handoffs`), its own argument first, then what is added later."""
    keywords = {kw.arg: kw.value for kw in call.keywords if kw.arg}
    return _items(keywords.get(field)) + later.get((variable, field), [])


def workflow_nodes(*, code: str) -> list[dict]:
    """`[{id, name, line_start, line_end, tools, handoffs, entry_point}]` for each variable an `Agent(...)` is assigned
    to (see `agent_bindings`)."""
    tree = parse(code)
    if tree is None:
        return []
    nodes = []
    started = entry_points(tree)
    later = added_later(tree)
    for variable, (statement, call) in agent_bindings(tree).items():
        node = Node(
            id=variable,
            name=agent_name(call),
            line_start=statement.lineno,
            line_end=statement.end_lineno or statement.lineno,
            tools=[reference(item) for item in agent_items(call, variable, "tools", later)],
            handoffs=[reference(item) for item in agent_items(call, variable, "handoffs", later)],
            entry_point=variable in started,
        )
        nodes.append(asdict(node))
    return nodes
