"""The workflow as a graph (agents and tools, handoffs and tool uses), read with `ast` (never executed),
its SVG drawing by Graphviz `dot`, and what changed between two versions of the file."""

import ast
import html
import subprocess

from rest_framework import status

from projects.nodes import added_later, agent_bindings, agent_items, agent_name, is_agent_call, parse, reference
from vibegrapher.errors import ServiceError

DOT_TIMEOUT_SECONDS = 10


class GraphRenderError(ServiceError):
    """The server could not draw the graph (no `dot`, or it failed or hung): 503."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


def _is_function_tool(decorator: ast.expr) -> bool:
    """`@function_tool`, `@function_tool(...)` and `@agents.function_tool`."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Name) and target.id == "function_tool") or (
        isinstance(target, ast.Attribute) and target.attr == "function_tool"
    )


def _function_tools(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for statement in ast.walk(tree):
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            _is_function_tool(decorator) for decorator in statement.decorator_list
        ):
            found[statement.name] = statement
    return found


def _is_as_tool(item: ast.expr) -> bool:
    return isinstance(item, ast.Call) and isinstance(item.func, ast.Attribute) and item.func.attr == "as_tool"


def workflow_graph(*, code: str) -> dict:
    """`{nodes: [{id, name, kind, line_start, line_end}], edges: [{source, target, kind}]}`: an agent
    node per `Agent(...)` variable, a tool node per `@function_tool` function (and per other tool an
    agent lists, at the agent's lines); a `handoff` edge per handoff, a `tool` edge per tool, and an
    `agent_tool` edge per agent used as a tool (`agent.as_tool(...)`)."""
    tree = parse(code)
    if tree is None:
        return {"nodes": [], "edges": []}
    agents = agent_bindings(tree)
    later = added_later(tree)
    functions = _function_tools(tree)
    nodes: dict[str, dict] = {}
    for variable, (statement, call) in agents.items():
        nodes[variable] = {
            "id": variable,
            "name": agent_name(call),
            "kind": "agent",
            "line_start": statement.lineno,
            "line_end": statement.end_lineno or statement.lineno,
        }
    for function_name, function in functions.items():
        if function_name not in nodes:
            nodes[function_name] = {
                "id": function_name,
                "name": function_name,
                "kind": "tool",
                "line_start": min([function.lineno] + [decorator.lineno for decorator in function.decorator_list]),
                "line_end": function.end_lineno or function.lineno,
            }
    edges: list[dict] = []
    for variable, (statement, call) in agents.items():
        for item in agent_items(call, variable, "handoffs", later):
            edges.append({"source": variable, "target": reference(item), "kind": "handoff"})
        for item in agent_items(call, variable, "tools", later):
            target = reference(item)
            if _is_as_tool(item) or target in agents or is_agent_call(item):
                edges.append({"source": variable, "target": target, "kind": "agent_tool"})
                continue
            if target not in nodes:  # e.g. WebSearchTool(): a tool the file does not define
                nodes[target] = {
                    "id": target,
                    "name": target,
                    "kind": "tool",
                    "line_start": statement.lineno,
                    "line_end": statement.end_lineno or statement.lineno,
                }
            edges.append({"source": variable, "target": target, "kind": "tool"})
    return {"nodes": list(nodes.values()), "edges": edges}


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def graph_dot(*, graph: dict) -> str:
    """Graphviz source for `graph`: agents as boxes labelled by their `name`, tools as ellipses."""
    lines = ["digraph workflow {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node in graph["nodes"]:
        label = node["name"] or node["id"]
        shape = "box, style=rounded" if node["kind"] == "agent" else "ellipse"
        lines.append(f"  {_dot_id(node['id'])} [label=<{html.escape(label)}>, shape={shape}];")
    styles = {"handoff": "solid", "tool": "dashed", "agent_tool": "dotted"}
    for edge in graph["edges"]:
        lines.append(
            f"  {_dot_id(edge['source'])} -> {_dot_id(edge['target'])} "
            f"[style={styles[edge['kind']]}, label={_dot_id(edge['kind'].replace('_', ' '))}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_svg(*, code: str) -> str:
    """The workflow graph drawn as SVG by `dot` (blocking: run it off the event loop)."""
    source = graph_dot(graph=workflow_graph(code=code))
    try:
        result = subprocess.run(
            ["dot", "-Tsvg"], input=source.encode(), capture_output=True, timeout=DOT_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError as exc:
        raise GraphRenderError("Graphviz `dot` is not installed on the server.") from exc
    except subprocess.TimeoutExpired as exc:
        raise GraphRenderError(f"Graphviz `dot` took longer than {DOT_TIMEOUT_SECONDS} s.") from exc
    if result.returncode != 0:
        raise GraphRenderError(f"Graphviz `dot` failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode("utf-8")


def _agent_fields(call: ast.Call) -> dict[str, str]:
    fields = {kw.arg: ast.unparse(kw.value) for kw in call.keywords if kw.arg}
    for position, argument in enumerate(call.args):
        fields.setdefault("name" if position == 0 else f"arg{position}", ast.unparse(argument))
    return fields


def _agents_by_field(code: str) -> dict[str, dict[str, str]]:
    tree = parse(code)
    if tree is None:
        return {}
    return {variable: _agent_fields(call) for variable, (_, call) in agent_bindings(tree).items()}


def workflow_changes(*, before: str, after: str) -> list[dict]:
    """`[{node, kind: added|removed|changed, fields}]`: the agents that differ between two versions of
    the file, with the `Agent(...)` arguments that differ (by their source text, not their position)."""
    old, new = _agents_by_field(before), _agents_by_field(after)
    changes: list[dict] = []
    for variable in new:
        if variable not in old:
            changes.append({"node": variable, "kind": "added", "fields": sorted(new[variable])})
            continue
        fields = sorted(
            key
            for key in old[variable].keys() | new[variable].keys()
            if old[variable].get(key) != new[variable].get(key)
        )
        if fields:
            changes.append({"node": variable, "kind": "changed", "fields": fields})
    for variable in old:
        if variable not in new:
            changes.append({"node": variable, "kind": "removed", "fields": sorted(old[variable])})
    return changes
