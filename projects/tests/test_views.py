"""REST API of projects: /health, /projects, /projects/:id and /projects/:id/nodes, as a client sees them."""

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from diffs.models import Diff
from projects.models import Project
from projects.serializers import ProjectSerializer
from projects.services import project_create
from projects.starter_code import STARTER_WORKFLOW, TRIAGE_WORKFLOW
from projects.tests.git_cli import git
from sessions.messages import message_create
from sessions.models import ConversationMessage, ProjectEvent, VibecodeSession
from sessions.vibecoder.memory import memory_open
from testcases.models import TestCase as StoredTest
from tests.samples import NOT_STRINGS

pytestmark = pytest.mark.django_db(transaction=True)

PROJECT_FIELDS = {
    "id",
    "name",
    "slug",
    "repository_path",
    "current_code",
    "current_commit",
    "current_branch",
    "created_at",
    "updated_at",
}
NODE_FIELDS = {"id", "name", "line_start", "line_end", "tools", "handoffs", "entry_point"}


def is_utc(timestamp: str) -> bool:
    return timestamp.endswith("Z") or timestamp.endswith("+00:00")


async def create(api, name: str) -> dict:
    response = await api.post("/projects", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


# --- /health ---------------------------------------------------------------------------------------


async def test_health_reports_status_database_and_version(api):
    response = await api.get("/health")
    body = response.json()
    print("GET /health ->", response.status_code, body)
    assert response.status_code == 200
    assert {"status", "database", "version"} <= set(body)
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["version"] == settings.VERSION
    assert body["channel_layer"] == ("ok" if settings.REDIS_URL else "in-memory")


async def test_health_says_degraded_but_serving_when_redis_is_unreachable(api, settings):
    from tests.processes import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    response = await api.get("/health")
    body = response.json()
    print("GET /health with Redis down ->", response.status_code, body)
    assert response.status_code == 200  # the REST API still works: keep routing to this instance
    assert body["status"] == "degraded"
    assert body["database"] == "ok"
    assert body["channel_layer"].startswith("unreachable: ")


# --- POST /projects --------------------------------------------------------------------------------


async def test_create_answers_201_with_the_project(api, media_root):
    response = await api.post("/projects", json={"name": "My First Workflow"})
    body = response.json()
    print("POST /projects ->", response.status_code, sorted(body))
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert set(body) == PROJECT_FIELDS
    uuid.UUID(body["id"])
    assert body["name"] == "My First Workflow"
    assert body["slug"] == "my-first-workflow"
    assert Path(body["repository_path"]) == (media_root / "projects" / "my-first-workflow").resolve()
    assert body["current_code"] == STARTER_WORKFLOW
    assert re.fullmatch(r"[0-9a-f]{40}", body["current_commit"])
    assert body["current_branch"] == "main"
    assert is_utc(body["created_at"]) and is_utc(body["updated_at"])


async def test_name_is_stripped_and_slug_comes_from_python_slugify(api):
    body = await create(api, "  Café Déjà Vu: Ünïcode & Co!  ")
    assert body["name"] == "Café Déjà Vu: Ünïcode & Co!"
    assert body["slug"] == "cafe-deja-vu-unicode-co"


async def test_taken_slug_gets_a_number(api):
    slugs = [
        (await create(api, name))["slug"] for name in ("Support Bot", "support bot", "SUPPORT-BOT!", "Support Bot")
    ]
    print("slugs:", slugs)
    assert slugs == ["support-bot", "support-bot-2", "support-bot-3", "support-bot-4"]


async def test_slug_that_only_starts_like_a_taken_one_is_not_numbered(api):
    await create(api, "Bot Two")
    assert (await create(api, "Bot"))["slug"] == "bot"
    assert (await create(api, "Bot"))["slug"] == "bot-2"


async def test_slug_of_a_deleted_project_can_be_used_again(api, media_root):
    first = await create(api, "Reused")
    assert (await api.delete(f"/projects/{first['id']}")).status_code == 204
    second = await create(api, "Reused")
    assert second["slug"] == "reused"
    assert second["id"] != first["id"]
    assert Path(second["repository_path"]).is_dir()


@pytest.mark.parametrize("name", ["!!!", "   ", "???---", "🙂"])
async def test_name_without_letters_or_digits_is_400(api, name):
    response = await api.post("/projects", json={"name": name})
    body = response.json()
    print(f"POST /projects name={name!r} ->", response.status_code, body)
    assert response.status_code == 400
    assert isinstance(body["detail"], str) and body["detail"]
    assert "name" in body["errors"]


@pytest.mark.parametrize("payload", [{}, {"title": "x"}, {"name": None}, {"name": ""}, {"name": "x" * 201}, [], "name"])
async def test_missing_or_invalid_name_is_400(api, payload):
    response = await api.post("/projects", json=payload)
    body = response.json()
    print(f"POST /projects {payload!r:.40} ->", response.status_code, body)
    assert response.status_code == 400
    assert isinstance(body["detail"], str) and body["detail"]
    assert (await api.get("/projects")).json() == []


@pytest.mark.parametrize("name", NOT_STRINGS)
async def test_name_that_is_not_a_string_is_400(api, name):
    response = await api.post("/projects", json={"name": name})
    body = response.json()
    print(f"POST /projects name={name!r} ->", response.status_code, body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["errors"]["name"] == ["Not a valid string."]
    assert (await api.get("/projects")).json() == []


async def test_name_of_digits_sent_as_a_string_is_fine(api):
    response = await api.post("/projects", json={"name": "123"})
    body = response.json()
    print('POST /projects name="123" ->', response.status_code, body["name"], body["slug"])
    assert response.status_code == 201
    assert (body["name"], body["slug"]) == ("123", "123")


async def test_body_that_is_not_json_is_400_json(api):
    response = await api.post("/projects", content=b'{"name": "x"', headers={"content-type": "application/json"})
    print("POST /projects with broken JSON ->", response.status_code, response.text)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "content_type,content",
    [
        ("application/x-www-form-urlencoded", b"name=Form"),
        ("text/plain", b"name=Form"),
        ("multipart/form-data; boundary=x", b"--x--"),
    ],
)
async def test_body_that_is_not_json_by_content_type_is_415_json(api, content_type, content):
    response = await api.post("/projects", content=content, headers={"content-type": content_type})
    print(f"POST /projects as {content_type} ->", response.status_code, response.text)
    assert response.status_code in (400, 415)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    assert (await api.get("/projects")).json() == []


async def test_create_makes_a_git_repository_with_one_commit(api):
    body = await create(api, "Git Checked")
    repo = Path(body["repository_path"])
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(repo, "rev-list", "--count", "HEAD") == "1"
    assert git(repo, "rev-parse", "HEAD") == body["current_commit"]
    assert git(repo, "log", "-1", "--format=%s") == "Initial agent code"
    assert git(repo, "ls-tree", "--name-only", "HEAD") == "workflow.py"
    assert git(repo, "show", "HEAD:workflow.py", strip=False) == body["current_code"]
    assert (repo / "workflow.py").read_text() == body["current_code"]
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "branch", "--list", "--format=%(refname:short)") == "main"
    assert git(repo, "log", "-1", "--format=%an <%ae>") == f"{settings.GIT_AUTHOR_NAME} <{settings.GIT_AUTHOR_EMAIL}>"
    assert git(repo, "fsck", "--strict") == ""


# --- GET /projects ---------------------------------------------------------------------------------


async def test_list_is_empty_without_projects(api):
    response = await api.get("/projects")
    assert response.status_code == 200
    assert response.json() == []


async def test_list_is_newest_first_with_every_field(api):
    created = [await create(api, f"Project {n}") for n in range(3)]
    response = await api.get("/projects")
    body = response.json()
    print("GET /projects ->", [p["name"] for p in body])
    assert response.status_code == 200
    assert [p["id"] for p in body] == [p["id"] for p in reversed(created)]
    assert all(set(p) == PROJECT_FIELDS for p in body)
    assert body[0] == created[-1]


async def test_list_items_are_exactly_what_get_returns_for_each_project(api):
    # The list is built without the serializer; a project must look the same in both places.
    created = [await create(api, f"Same {n}") for n in range(3)]
    listed = (await api.get("/projects")).json()
    details = [(await api.get(f"/projects/{p['id']}")).json() for p in listed]
    print("listed ids:", [p["id"] for p in listed])
    assert listed == details
    assert {p["id"] for p in listed} == {p["id"] for p in created}


# --- GET /projects/:id -----------------------------------------------------------------------------


async def test_get_returns_the_project_with_its_code(api):
    created = await create(api, "Fetched")
    response = await api.get(f"/projects/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_get_is_what_the_serializer_makes_of_the_stored_row(api):
    # GET /projects/:id reads the row without the serializer; after the row changes (a timestamp with
    # microseconds, new code), it must still say what ProjectSerializer says of it.
    created = await create(api, "Changed")
    changed_at = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    await sync_to_async(Project.objects.filter(pk=created["id"]).update)(
        current_code="x = 'é'\n", current_commit="a" * 40, updated_at=changed_at
    )
    expected = ProjectSerializer(await sync_to_async(Project.objects.get)(pk=created["id"])).data
    body = (await api.get(f"/projects/{created['id']}")).json()
    print("GET ->", body["updated_at"], repr(body["current_code"]), "serializer ->", expected["updated_at"])
    assert body == expected
    assert body["updated_at"] == "2031-05-06T07:08:09.123456Z"


@pytest.mark.parametrize("project_id", [str(uuid.uuid4()), "not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"])
async def test_get_unknown_or_malformed_id_is_404_json(api, project_id):
    response = await api.get(f"/projects/{project_id}")
    print(f"GET /projects/{project_id} ->", response.status_code, response.text)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"detail"}


# --- DELETE /projects/:id --------------------------------------------------------------------------


async def test_delete_removes_the_project_and_everything_it_owns(api, media_root):
    body = await create(api, "Doomed")
    session = (await api.post(f"/projects/{body['id']}/sessions", json={})).json()
    test = (await api.post(f"/projects/{body['id']}/tests", json={"name": "t", "test_code": "import workflow"})).json()

    def fill() -> None:
        message_create(session_id=session["id"], role="user", agent="user", content="hello")
        Diff.objects.create(
            session_id=session["id"],
            project_id=body["id"],
            base_commit=body["current_commit"],
            diff_content="",
            new_code="",
        )
        memory = memory_open(db_path=session["conversations_db_path"], key=session["openai_session_key"])
        from asgiref.sync import async_to_sync

        async_to_sync(memory.add_items)([{"role": "user", "content": "hello"}])
        memory.close()

    await sync_to_async(fill)()
    other = await create(api, "Survivor")
    repo = Path(body["repository_path"])
    conversations = Path(session["conversations_db_path"])
    assert repo.is_dir() and conversations.is_file()

    response = await api.delete(f"/projects/{body['id']}")
    print("DELETE /projects/:id ->", response.status_code, repr(response.text))
    assert response.status_code == 204
    assert response.content == b""
    assert (await api.get(f"/projects/{body['id']}")).status_code == 404
    assert (await api.get(f"/sessions/{session['id']}")).status_code == 404
    assert (await api.get(f"/tests/{test['id']}")).status_code == 404
    assert not repo.exists()
    assert not conversations.exists()
    assert not Path(f"{conversations}-wal").exists()

    def counts() -> dict[str, int]:
        return {
            "sessions": VibecodeSession.objects.filter(project_id=body["id"]).count(),
            "messages": ConversationMessage.objects.filter(session_id=session["id"]).count(),
            "diffs": Diff.objects.filter(project_id=body["id"]).count(),
            "tests": StoredTest.objects.filter(project_id=body["id"]).count(),
            "events": ProjectEvent.objects.filter(project_id=body["id"]).count(),
        }

    remaining = await sync_to_async(counts)()
    print("rows left after delete:", remaining)
    assert remaining == {"sessions": 0, "messages": 0, "diffs": 0, "tests": 0, "events": 0}
    assert [p["id"] for p in (await api.get("/projects")).json()] == [other["id"]]
    assert Path(other["repository_path"]).is_dir()


async def test_delete_twice_is_404_the_second_time(api):
    body = await create(api, "Once")
    assert (await api.delete(f"/projects/{body['id']}")).status_code == 204
    response = await api.delete(f"/projects/{body['id']}")
    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.parametrize("project_id", [str(uuid.uuid4()), "nope"])
async def test_delete_unknown_or_malformed_id_is_404(api, project_id):
    response = await api.delete(f"/projects/{project_id}")
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


# --- GET /projects/:id/nodes -----------------------------------------------------------------------


def line_of(code: str, text: str) -> int:
    return code.splitlines().index(text) + 1


async def test_nodes_of_the_triage_workflow(api):
    project = await sync_to_async(project_create)(name="Triage", code=TRIAGE_WORKFLOW)
    response = await api.get(f"/projects/{project.id}/nodes")
    body = response.json()
    print("GET /projects/:id/nodes ->", response.status_code, body)
    assert response.status_code == 200
    assert all(set(node) == NODE_FIELDS for node in body)
    code = TRIAGE_WORKFLOW

    def span(variable: str) -> tuple[int, int]:
        start = line_of(code, f"{variable} = Agent(")
        end = start + code.splitlines()[start - 1 :].index(")")
        return start, end

    expected = []
    for variable, name, tools, handoffs in [
        ("billing_agent", "Billing Agent", ["lookup_order"], []),
        ("technical_agent", "Technical Support Agent", ["reset_password"], []),
        ("general_agent", "General Agent", [], []),
        ("triage_agent", "Triage Agent", [], ["billing_agent", "technical_agent", "general_agent"]),
    ]:
        start, end = span(variable)
        expected.append(
            {
                "id": variable,
                "name": name,
                "line_start": start,
                "line_end": end,
                "tools": tools,
                "handoffs": handoffs,
                "entry_point": f"Runner.run({variable}" in TRIAGE_WORKFLOW or f"run_sync({variable}" in TRIAGE_WORKFLOW,
            }
        )
    assert body == expected


async def test_nodes_of_the_starter_workflow(api):
    body = await create(api, "Starter")
    response = await api.get(f"/projects/{body['id']}/nodes")
    start = line_of(STARTER_WORKFLOW, "assistant_agent = Agent(")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": "assistant_agent",
            "name": "Assistant",
            "line_start": start,
            "line_end": start + 3,
            "tools": [],
            "handoffs": [],
            "entry_point": "Runner.run_sync(assistant_agent" in STARTER_WORKFLOW
            or "Runner.run(assistant_agent" in STARTER_WORKFLOW,
        }
    ]


@pytest.mark.parametrize("project_id", [str(uuid.uuid4()), "bad-id"])
async def test_nodes_of_unknown_project_is_404(api, project_id):
    response = await api.get(f"/projects/{project_id}/nodes")
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}
