"""projects/nodes.py: which agents a workflow defines, found with `ast` (the code never runs)."""

from projects.nodes import workflow_nodes

WORKFLOW = """\
from agents import Agent, handoff

billing = Agent(name="Billing")
first, second = Agent(name="First"), Agent(name="Second")
alias = also = Agent(name="Chained")
triage = Agent(
    name="Triage",
    handoffs=[billing, handoff(agent=first, tool_name_override="go_first"), handoff(second)],
)
billing = Agent(name="Billing v2")


def build():
    billing = Agent(name="Local billing")
    helper = Agent(name="Helper")
    return helper
"""


def nodes_by_id(code: str) -> dict[str, dict]:
    nodes = workflow_nodes(code=code)
    ids = [node["id"] for node in nodes]
    print("nodes:", [(node["id"], node["name"], node["line_start"], node["line_end"]) for node in nodes])
    assert len(ids) == len(set(ids)), f"an id names one node: {ids}"
    return {node["id"]: node for node in nodes}


def test_tuple_and_chained_assignments_define_one_node_per_variable():
    nodes = nodes_by_id(WORKFLOW)
    assert (nodes["first"]["name"], nodes["second"]["name"]) == ("First", "Second")
    assert nodes["first"]["line_start"] == nodes["second"]["line_start"] == 4
    assert (nodes["alias"]["name"], nodes["also"]["name"]) == ("Chained", "Chained")


def test_a_variable_assigned_twice_is_the_module_level_agent_assigned_last():
    nodes = nodes_by_id(WORKFLOW)
    assert (nodes["billing"]["name"], nodes["billing"]["line_start"]) == ("Billing v2", 10)
    assert nodes["helper"]["name"] == "Helper"  # only nested: still an agent of the workflow


def test_handoffs_given_as_handoff_calls_name_their_agent():
    nodes = nodes_by_id(WORKFLOW)
    assert nodes["triage"]["handoffs"] == ["billing", "first", "second"]
    assert (nodes["triage"]["line_start"], nodes["triage"]["line_end"]) == (6, 9)
