"""GET /projects/:id/graph and /graph.svg, /nodes on real exported workflows, and the preview's `changes`."""

from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from diffs.tests.builders import project_with_session, proposed_diff
from projects.graph import workflow_changes
from sessions.models import ProjectEvent

pytestmark = pytest.mark.django_db(transaction=True)

WORKFLOWS = Path(__file__).parent / "workflows"


def workflow(name: str) -> str:
    return (WORKFLOWS / f"{name}.py").read_text()


async def imported(api, name: str) -> dict:
    response = await api.post("/projects", json={"name": name, "code": workflow(name)})
    assert response.status_code == 201, response.text
    return response.json()


def edges(graph: dict) -> set[tuple[str, str, str]]:
    return {(edge["source"], edge["target"], edge["kind"]) for edge in graph["edges"]}


async def test_builder_export_nodes_and_graph(api):
    project = await imported(api, "builder_export")
    nodes = (await api.get(f"/projects/{project['id']}/nodes")).json()
    by_id = {node["id"]: node for node in nodes}
    print("nodes:", by_id)
    assert by_id["triage_agent"]["handoffs"] == ["shipping_agent", "refunds_agent"]  # handoff(agent=...) too
    assert by_id["refunds_agent"]["tools"] == ["lookup_order", "issue_refund"]
    assert [node["id"] for node in nodes if node["entry_point"]] == ["triage_agent"]  # Runner.run in run_workflow
    graph = (await api.get(f"/projects/{project['id']}/graph")).json()
    kinds = {node["id"]: node["kind"] for node in graph["nodes"]}
    assert kinds == {
        "shipping_agent": "agent",
        "refunds_agent": "agent",
        "triage_agent": "agent",
        "lookup_order": "tool",
        "issue_refund": "tool",
    }
    assert edges(graph) == {
        ("shipping_agent", "lookup_order", "tool"),
        ("refunds_agent", "lookup_order", "tool"),
        ("refunds_agent", "issue_refund", "tool"),
        ("triage_agent", "shipping_agent", "handoff"),
        ("triage_agent", "refunds_agent", "handoff"),
    }
    lookup = next(node for node in graph["nodes"] if node["id"] == "lookup_order")
    assert (lookup["line_start"], lookup["line_end"]) == (6, 9)  # from its decorator


async def test_customer_service_handoffs_added_after_the_agents_count(api):
    project = await imported(api, "customer_service")
    graph = (await api.get(f"/projects/{project['id']}/graph")).json()
    print("edges:", sorted(edges(graph)))
    assert ("faq_agent", "triage_agent", "handoff") in edges(graph)  # faq_agent.handoffs.append(triage_agent)
    assert ("triage_agent", "seat_booking_agent", "handoff") in edges(graph)
    assert ("seat_booking_agent", "update_seat", "tool") in edges(graph)
    names = {node["id"]: node["name"] for node in graph["nodes"] if node["kind"] == "agent"}
    assert names == {
        "faq_agent": "FAQ Agent",
        "seat_booking_agent": "Seat Booking Agent",
        "triage_agent": "Triage Agent",
    }


async def test_agents_used_as_tools_are_agent_tool_edges(api):
    project = await imported(api, "agents_as_tools")
    graph = (await api.get(f"/projects/{project['id']}/graph")).json()
    print("edges:", sorted(edges(graph)))
    assert edges(graph) == {
        ("orchestrator_agent", "spanish_agent", "agent_tool"),
        ("orchestrator_agent", "french_agent", "agent_tool"),
        ("orchestrator_agent", "WebSearchTool()", "tool"),
    }


async def test_guardrail_workflow_has_both_agents_and_no_edges(api):
    project = await imported(api, "guardrails")
    graph = (await api.get(f"/projects/{project['id']}/graph")).json()
    assert {node["id"] for node in graph["nodes"]} == {"guardrail_agent", "support_agent"}
    assert graph["edges"] == []


async def test_graph_svg_names_every_agent_and_reads_a_commit(api):
    project = await imported(api, "builder_export")
    response = await api.get(f"/projects/{project['id']}/graph.svg", params={"commit": project["current_commit"]})
    print("GET graph.svg ->", response.status_code, response.headers.get("content-type"), len(response.content))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.text.lstrip().startswith("<?xml") and "<svg" in response.text
    for name in ("Shipping Desk", "Refunds", "Triage"):
        assert f">{name}</text>" in response.text
    bad = await api.get(f"/projects/{project['id']}/graph.svg", params={"commit": "zz"})
    assert bad.status_code == 400


async def test_preview_and_diff_created_name_the_agent_that_changed(api):
    project, session = await sync_to_async(project_with_session)()
    code = project.current_code
    new_code = code.replace("You are a helpful assistant.", "You are a pirate assistant.")
    assert new_code != code
    diff = await sync_to_async(proposed_diff)(project=project, session=session, new_code=new_code)
    preview = (await api.get(f"/diffs/{diff.id}/preview")).json()
    print("changes:", preview["changes"])
    assert preview["changes"] == [{"node": "assistant_agent", "kind": "changed", "fields": ["instructions"]}]
    event = await ProjectEvent.objects.filter(project_id=project.id, type="diff_created").alast()
    assert event is not None and event.data["changes"] == preview["changes"]


def test_changes_name_added_removed_and_changed_agents():
    before = workflow("builder_export")
    after = before.replace('"Answers questions about where an order is"', '"Tracks parcels"').replace(
        "refunds_agent = Agent(", "returns_agent = Agent("
    )
    changes = workflow_changes(before=before, after=after)
    print("changes:", changes)
    assert {"node": "shipping_agent", "kind": "changed", "fields": ["handoff_description"]} in changes
    assert any(change["node"] == "returns_agent" and change["kind"] == "added" for change in changes)
    assert any(change["node"] == "refunds_agent" and change["kind"] == "removed" for change in changes)
    assert workflow_changes(before=before, after=before) == []
