"""Importing an existing workflow file with POST /projects, and downloading it with GET /projects/:id/workflow.py."""

import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from projects.tests.git_cli import git

pytestmark = pytest.mark.django_db(transaction=True)

BUILDER_EXPORT = '''from agents import Agent, Runner, function_tool, handoff


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return f"Order {order_id}: shipped"


shipping_agent = Agent(
    name="Shipping Desk",
    handoff_description="Answers shipping questions",
    instructions="Help with shipping.",
    tools=[lookup_order],
)

triage_agent = Agent(
    name="Triage",
    instructions="Route the customer.",
    handoffs=[handoff(agent=shipping_agent)],
)


async def run_workflow(text: str) -> str:
    result = await Runner.run(triage_agent, text)
    return result.final_output
'''


def projects_folder() -> Path:
    return Path(settings.MEDIA_PATH) / "projects"


async def test_imported_code_is_the_first_commit_byte_for_byte(api):
    code = BUILDER_EXPORT.replace("\n", "\r\n")  # the file's own line endings are kept
    response = await api.post("/projects", json={"name": "Imported", "code": code})
    body = response.json()
    print("POST /projects with code ->", response.status_code, {k: body.get(k) for k in ("slug", "warning")})
    assert response.status_code == 201, response.text
    assert "warning" not in body
    repo = Path(body["repository_path"])
    assert git(repo, "log", "--format=%s", "main") == "Import workflow"
    shown = subprocess.run(["git", "-C", str(repo), "show", "main:workflow.py"], capture_output=True, check=True)
    assert shown.stdout == code.encode()
    assert body["current_code"] == code
    nodes = (await api.get(f"/projects/{body['id']}/nodes")).json()
    assert {node["id"] for node in nodes} == {"shipping_agent", "triage_agent"}


async def test_a_syntax_error_is_a_400_naming_line_and_column_and_creates_nothing(api):
    before = sorted(p.name for p in projects_folder().iterdir()) if projects_folder().exists() else []
    response = await api.post("/projects", json={"name": "Broken", "code": "x = 1\ndef f(:\n    pass\n"})
    body = response.json()
    print("POST /projects with broken code ->", response.status_code, body)
    assert response.status_code == 400
    assert "line 2" in body["detail"] and "column" in body["detail"]
    assert (await api.get("/projects")).json() == []
    after = sorted(p.name for p in projects_folder().iterdir()) if projects_folder().exists() else []
    assert after == before


async def test_code_without_an_agent_is_accepted_with_a_warning(api):
    response = await api.post("/projects", json={"name": "Plain", "code": "print('hello')\n"})
    body = response.json()
    print("POST /projects without Agent ->", response.status_code, body.get("warning"))
    assert response.status_code == 201
    assert "Agent" in body["warning"]


async def test_without_code_the_starter_is_committed_as_before(api):
    body = (await api.post("/projects", json={"name": "Starter"})).json()
    assert git(Path(body["repository_path"]), "log", "--format=%s", "main") == "Initial agent code"
    assert "warning" not in body


async def test_code_must_be_a_string(api):
    response = await api.post("/projects", json={"name": "Number", "code": 12})
    assert response.status_code == 400
    assert (await api.get("/projects")).json() == []


async def test_download_the_workflow_at_main_and_at_an_older_commit(api):
    body = (await api.post("/projects", json={"name": "Download", "code": BUILDER_EXPORT})).json()
    first = body["current_commit"]
    response = await api.get(f"/projects/{body['id']}/workflow.py")
    print("GET workflow.py ->", response.status_code, response.headers.get("content-type"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/x-python")
    assert response.headers["content-disposition"] == 'attachment; filename="workflow.py"'
    assert response.content == BUILDER_EXPORT.encode()
    at_first = await api.get(f"/projects/{body['id']}/workflow.py", params={"commit": first})
    assert at_first.status_code == 200 and at_first.content == BUILDER_EXPORT.encode()


async def test_download_an_unknown_commit_is_404_and_a_malformed_one_400(api):
    body = (await api.post("/projects", json={"name": "Download errors"})).json()
    unknown = await api.get(f"/projects/{body['id']}/workflow.py", params={"commit": "0" * 40})
    malformed = await api.get(f"/projects/{body['id']}/workflow.py", params={"commit": "not-a-sha"})
    print("unknown ->", unknown.status_code, unknown.json(), "malformed ->", malformed.status_code)
    assert unknown.status_code == 404 and "detail" in unknown.json()
    assert malformed.status_code == 400 and "detail" in malformed.json()
