"""REST API of sessions and their messages and diffs: /projects/:id/sessions, /sessions/:id, /messages/:id/full."""

import uuid
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync, sync_to_async

from diffs.models import Diff
from sessions.messages import message_create
from sessions.models import ConversationMessage
from sessions.vibecoder.memory import memory_items, memory_open
from tests.samples import NOT_STRINGS

pytestmark = pytest.mark.django_db(transaction=True)

SESSION_FIELDS = {
    "id",
    "project_id",
    "openai_session_key",
    "conversations_db_path",
    "session_type",
    "node_id",
    "created_at",
    "updated_at",
}
MESSAGE_FIELDS = {
    "id",
    "session_id",
    "role",
    "agent",
    "content",
    "iteration",
    "sequence",
    "patch_preview",
    "diff_id",
    "token_usage",
    "last_response_id",
    "trace_id",
    "created_at",
}
DIFF_FIELDS = {
    "id",
    "session_id",
    "project_id",
    "base_commit",
    "target_branch",
    "diff_content",
    "status",
    "test_results",
    "tests_run_at",
    "vibecoder_prompt",
    "evaluator_reasoning",
    "commit_message",
    "human_feedback",
    "committed_sha",
    "created_at",
    "updated_at",
}


def is_utc(timestamp: str) -> bool:
    return timestamp.endswith("Z") or timestamp.endswith("+00:00")


@pytest.fixture
async def project(api) -> dict:
    response = await api.post("/projects", json={"name": "Support Desk"})
    assert response.status_code == 201
    return response.json()


async def open_session(api, project: dict, payload: dict | None = None) -> dict:
    response = await api.post(f"/projects/{project['id']}/sessions", json=payload if payload is not None else {})
    assert response.status_code in (200, 201), response.text
    return response.json()


# --- POST /projects/:id/sessions -------------------------------------------------------------------


async def test_global_session_is_created_with_201(api, project, media_root):
    response = await api.post(f"/projects/{project['id']}/sessions", json={})
    body = response.json()
    print("POST /projects/:id/sessions {} ->", response.status_code, body)
    assert response.status_code == 201
    assert set(body) == SESSION_FIELDS
    uuid.UUID(body["id"])
    assert body["project_id"] == project["id"]
    assert body["openai_session_key"] == "project_support-desk"
    assert body["session_type"] == "global"
    assert body["node_id"] is None
    expected_db = (media_root / "projects" / "support-desk_conversations.db").resolve()
    assert Path(body["conversations_db_path"]) == expected_db
    assert is_utc(body["created_at"]) and is_utc(body["updated_at"])


async def test_same_global_session_again_is_200_with_the_same_id(api, project):
    first = await api.post(f"/projects/{project['id']}/sessions", json={})
    second = await api.post(f"/projects/{project['id']}/sessions", json={"session_type": "global"})
    print("first ->", first.status_code, "second ->", second.status_code)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()


async def test_post_without_a_body_opens_the_global_session(api, project):
    response = await api.post(f"/projects/{project['id']}/sessions")
    assert response.status_code == 201, response.text
    assert response.json()["session_type"] == "global"


async def test_node_session_uses_the_node_key(api, project):
    response = await api.post(
        f"/projects/{project['id']}/sessions", json={"session_type": "node", "node_id": "assistant_agent"}
    )
    body = response.json()
    print("POST node session ->", response.status_code, body)
    assert response.status_code == 201
    assert set(body) == SESSION_FIELDS
    assert body["session_type"] == "node"
    assert body["node_id"] == "assistant_agent"
    assert body["openai_session_key"] == "project_support-desk_node_assistant_agent"
    assert body["conversations_db_path"].endswith("/projects/support-desk_conversations.db")

    again = await api.post(f"/projects/{project['id']}/sessions", json={"node_id": "assistant_agent"})
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]


async def test_node_and_global_sessions_are_different(api, project):
    global_session = await open_session(api, project)
    node_session = await open_session(api, project, {"node_id": "assistant_agent"})
    assert global_session["id"] != node_session["id"]


@pytest.mark.parametrize(
    "payload",
    [
        {"session_type": "node", "node_id": "no_such_agent"},
        {"node_id": "Assistant"},
        {"session_type": "global", "node_id": "assistant_agent"},
        {"session_type": "node"},
        {"session_type": "node", "node_id": ""},
        {"session_type": "team"},
        {"session_type": 5},
        [],
    ],
)
async def test_bad_session_requests_are_400(api, project, payload):
    response = await api.post(f"/projects/{project['id']}/sessions", json=payload)
    body = response.json()
    print(f"POST /projects/:id/sessions {payload} ->", response.status_code, body)
    assert response.status_code == 400
    assert isinstance(body["detail"], str) and body["detail"]
    assert (await api.get(f"/projects/{project['id']}/sessions")).json() == []


async def test_unknown_node_error_names_the_known_nodes(api, project):
    response = await api.post(f"/projects/{project['id']}/sessions", json={"node_id": "ghost"})
    assert response.status_code == 400
    assert "assistant_agent" in response.json()["detail"]
    assert "node_id" in response.json()["errors"]


@pytest.mark.parametrize("node_id", NOT_STRINGS)
async def test_node_id_that_is_not_a_string_is_400(api, project, node_id):
    payload = {"session_type": "node", "node_id": node_id}
    response = await api.post(f"/projects/{project['id']}/sessions", json=payload)
    body = response.json()
    print(f"POST /projects/:id/sessions {payload} ->", response.status_code, body)
    assert response.status_code == 400
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["errors"]["node_id"] == ["Not a valid string."]
    assert (await api.get(f"/projects/{project['id']}/sessions")).json() == []


@pytest.mark.parametrize("project_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_sessions_of_unknown_project_are_404(api, project_id):
    assert (await api.post(f"/projects/{project_id}/sessions", json={})).status_code == 404
    assert (await api.get(f"/projects/{project_id}/sessions")).status_code == 404


# --- GET /projects/:id/sessions, GET /sessions/:id -------------------------------------------------


async def test_list_has_the_project_sessions_only(api, project):
    other = (await api.post("/projects", json={"name": "Other"})).json()
    await open_session(api, other)
    first = await open_session(api, project)
    second = await open_session(api, project, {"node_id": "assistant_agent"})
    response = await api.get(f"/projects/{project['id']}/sessions")
    body = response.json()
    print("GET /projects/:id/sessions ->", [s["openai_session_key"] for s in body])
    assert response.status_code == 200
    assert body == [first, second]


async def test_get_one_session(api, project):
    session = await open_session(api, project)
    response = await api.get(f"/sessions/{session['id']}")
    assert response.status_code == 200
    assert response.json() == session


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "abc"])
async def test_unknown_session_is_404(api, session_id):
    for response in [await api.get(f"/sessions/{session_id}"), await api.delete(f"/sessions/{session_id}")]:
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}


# --- DELETE /sessions/:id --------------------------------------------------------------------------


async def test_delete_removes_messages_and_clears_both_memories(api, project):
    session = await open_session(api, project)
    survivor = await open_session(api, project, {"node_id": "assistant_agent"})
    db_path = session["conversations_db_path"]
    keys = [session["openai_session_key"], session["openai_session_key"] + "_evaluator", survivor["openai_session_key"]]

    def fill() -> None:
        message_create(session_id=session["id"], role="user", agent="user", content="one")
        message_create(session_id=survivor["id"], role="user", agent="user", content="kept")
        for key in keys:
            memory = memory_open(db_path=db_path, key=key)
            async_to_sync(memory.add_items)([{"role": "user", "content": f"memory of {key}"}])
            memory.close()

    await sync_to_async(fill)()
    response = await api.delete(f"/sessions/{session['id']}")
    print("DELETE /sessions/:id ->", response.status_code, repr(response.text))
    assert response.status_code == 204
    assert response.content == b""
    assert (await api.get(f"/sessions/{session['id']}")).status_code == 404
    assert (await api.get(f"/sessions/{session['id']}/messages")).status_code == 404
    left = await sync_to_async(lambda: ConversationMessage.objects.filter(session_id=session["id"]).count())()
    assert left == 0

    remembered = {key: await sync_to_async(memory_items)(db_path=db_path, key=key) for key in keys}
    print("memory items per key after delete:", {key: len(items) for key, items in remembered.items()})
    assert remembered[keys[0]] == []
    assert remembered[keys[1]] == []
    assert len(remembered[keys[2]]) == 1
    assert [m["content"] for m in (await api.get(f"/sessions/{survivor['id']}/messages")).json()] == ["kept"]


async def test_session_can_be_opened_again_after_delete(api, project):
    session = await open_session(api, project)
    assert (await api.delete(f"/sessions/{session['id']}")).status_code == 204
    response = await api.post(f"/projects/{project['id']}/sessions", json={})
    assert response.status_code == 201
    assert response.json()["id"] != session["id"]


# --- GET /sessions/:id/messages, GET /messages/:id/full --------------------------------------------


async def test_messages_are_listed_in_sequence_order(api, project):
    session = await open_session(api, project)
    assert (await api.get(f"/sessions/{session['id']}/messages")).json() == []

    def fill() -> None:
        message_create(session_id=session["id"], role="user", agent="user", content="Add a tool")
        message_create(
            session_id=session["id"],
            role="assistant",
            agent="vibecoder",
            content="Patch submitted",
            iteration=1,
            patch_preview="--- a/workflow.py",
            token_usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            last_response_id="resp_1",
            trace_id="trace_1",
            openai_response={"id": "resp_1", "output": []},
        )
        message_create(session_id=session["id"], role="assistant", agent="evaluator", content="Approved", iteration=1)

    await sync_to_async(fill)()
    response = await api.get(f"/sessions/{session['id']}/messages")
    body = response.json()
    print("GET /sessions/:id/messages ->", [(m["sequence"], m["agent"]) for m in body])
    assert response.status_code == 200
    assert all(set(m) == MESSAGE_FIELDS for m in body)
    assert [(m["sequence"], m["role"], m["agent"], m["content"]) for m in body] == [
        (1, "user", "user", "Add a tool"),
        (2, "assistant", "vibecoder", "Patch submitted"),
        (3, "assistant", "evaluator", "Approved"),
    ]
    assert all(m["session_id"] == session["id"] and is_utc(m["created_at"]) for m in body)
    vibecoder = body[1]
    assert vibecoder["token_usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert (vibecoder["iteration"], vibecoder["last_response_id"], vibecoder["trace_id"]) == (1, "resp_1", "trace_1")
    assert vibecoder["patch_preview"] == "--- a/workflow.py"
    assert body[0]["diff_id"] is None

    full = await api.get(f"/messages/{vibecoder['id']}/full")
    print("GET /messages/:id/full ->", full.status_code, full.json())
    assert full.status_code == 200
    assert set(full.json()) == MESSAGE_FIELDS | {"openai_response"}
    assert full.json()["openai_response"] == {"id": "resp_1", "output": []}
    assert {k: v for k, v in full.json().items() if k != "openai_response"} == vibecoder


@pytest.mark.parametrize("message_id", [str(uuid.uuid4()), "msg_1"])
async def test_unknown_message_is_404(api, message_id):
    response = await api.get(f"/messages/{message_id}/full")
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "x"])
async def test_messages_of_unknown_session_are_404(api, session_id):
    response = await api.get(f"/sessions/{session_id}/messages")
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


# --- GET /sessions/:id/diffs, /sessions/:id/diffs/pending ------------------------------------------


async def test_session_diffs_and_pending_diffs(api, project):
    session = await open_session(api, project)
    other = await open_session(api, project, {"node_id": "assistant_agent"})

    def make(session_id: str, status: str, message: str) -> str:
        diff = Diff.objects.create(
            session_id=session_id,
            project_id=project["id"],
            base_commit=project["current_commit"],
            diff_content="diff --git a/workflow.py b/workflow.py\n",
            new_code="x = 1\n",
            commit_message=message,
            status=status,
        )
        return str(diff.id)

    rejected = await sync_to_async(make)(session["id"], "human_rejected", "first")
    pending = await sync_to_async(make)(session["id"], "evaluator_approved", "second")
    await sync_to_async(make)(other["id"], "evaluator_approved", "elsewhere")

    response = await api.get(f"/sessions/{session['id']}/diffs")
    body = response.json()
    print("GET /sessions/:id/diffs ->", [(d["commit_message"], d["status"]) for d in body])
    assert response.status_code == 200
    assert [d["id"] for d in body] == [pending, rejected]
    assert all(set(d) == DIFF_FIELDS for d in body)
    assert body[0]["session_id"] == session["id"] and body[0]["project_id"] == project["id"]
    assert is_utc(body[0]["created_at"])
    assert "new_code" not in body[0]

    response = await api.get(f"/sessions/{session['id']}/diffs/pending")
    print("GET /sessions/:id/diffs/pending ->", [d["id"] for d in response.json()])
    assert response.status_code == 200
    assert [d["id"] for d in response.json()] == [pending]


async def test_session_without_diffs_has_empty_lists(api, project):
    session = await open_session(api, project)
    assert (await api.get(f"/sessions/{session['id']}/diffs")).json() == []
    assert (await api.get(f"/sessions/{session['id']}/diffs/pending")).json() == []


@pytest.mark.parametrize("suffix", ["diffs", "diffs/pending"])
async def test_diffs_of_unknown_session_are_404(api, suffix):
    response = await api.get(f"/sessions/{uuid.uuid4()}/{suffix}")
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


async def test_memory_follows_media_path_when_it_changes(api, project, media_root, settings, tmp_path):
    """The path is derived, not stored: after MEDIA_PATH moves (a restored database, a new volume), the
    session's memory is read and deleted where the media root now is, never at the old place."""
    session = await open_session(api, project)
    old_db = Path(session["conversations_db_path"])
    moved = tmp_path / "moved-media"
    (moved / "projects").mkdir(parents=True)
    for path in (media_root / "projects").iterdir():  # the operator moves the media folder
        path.rename(moved / "projects" / path.name)
    settings.MEDIA_PATH = moved
    again = (await api.get(f"/sessions/{session['id']}")).json()
    print("conversations_db_path before / after MEDIA_PATH moved:", old_db, again["conversations_db_path"])
    new_db = Path(again["conversations_db_path"])
    assert new_db == (moved / "projects" / "support-desk_conversations.db").resolve()
    assert new_db.exists() and not old_db.exists()

    assert (await api.delete(f"/projects/{project['id']}")).status_code == 204
    assert not new_db.exists(), "deleting the project removes its memory where MEDIA_PATH now points"
    assert not old_db.exists()
