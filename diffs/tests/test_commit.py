"""POST /diffs/:id/commit: checked with git itself, the project, the events and the agents' memories."""

import asyncio
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from diffs import services
from diffs.models import Diff
from diffs.tests.builders import (
    DOCSTRING_CODE,
    PIRATE_CODE,
    PIRATE_PATCH,
    ROBOT_CODE,
    approved_diff,
    human_approved_diff,
    project_with_session,
    proposed_diff,
    repo_path,
)
from model_double.script import evaluation, patch
from projects import repository
from projects.models import Project
from projects.starter_code import STARTER_WORKFLOW
from projects.tests.git_cli import git
from sessions.vibecoder.memory import memory_items
from tests.samples import NOT_STRINGS
from vibegrapher.errors import Conflict

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def approved():
    return await sync_to_async(human_approved_diff)(message="Make it a pirate")


async def commit(api, diff_id, body=None) -> tuple[int, dict]:
    response = await api.post(f"/diffs/{diff_id}/commit", json=body or {})
    print(f"POST /diffs/{str(diff_id)[:8]}/commit {body or {}} -> {response.status_code} {response.json()}")
    return response.status_code, response.json()


def git_state(project: Project) -> dict:
    repo = repo_path(project)
    return {
        "head": git(repo, "rev-parse", "main"),
        "file": git(repo, "show", "main:workflow.py", strip=False),
        "count": int(git(repo, "rev-list", "--count", "main")),
        "porcelain": git(repo, "status", "--porcelain"),
    }


async def test_commit_writes_the_diff_on_main_with_trailers(api, approved):
    project, session, diff = approved
    before = git_state(project)
    status, body = await commit(api, diff.id)
    assert status == 200
    assert body["status"] == "committed"
    repo = repo_path(project)
    head = git(repo, "rev-parse", "HEAD")
    assert body["committed_sha"] == head != before["head"]
    message = git(repo, "log", "-1", "--format=%B")
    print("git log -1 --format=%B:\n" + message)
    assert message == f"Make it a pirate\n\nVibegrapher-Diff: {diff.id}\nVibegrapher-Session: {session.id}"
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)")
    assert trailers == f"Vibegrapher-Diff: {diff.id}\nVibegrapher-Session: {session.id}"
    assert git(repo, "show", "HEAD:workflow.py", strip=False) == PIRATE_CODE
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "workflow.py").read_text() == PIRATE_CODE
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "Vibegrapher <vibegrapher@localhost>"
    assert git(repo, "rev-parse", "HEAD^") == before["head"]

    stored = await Project.objects.aget(pk=project.id)
    assert stored.current_commit == head
    assert stored.current_code == PIRATE_CODE
    project_body = (await api.get(f"/projects/{project.id}")).json()
    assert project_body["current_commit"] == head

    commits = (await api.get(f"/projects/{project.id}/commits")).json()
    assert commits[0]["sha"] == head
    assert commits[0]["diff_id"] == str(diff.id)
    assert commits[0]["session_id"] == str(session.id)


async def test_commit_message_override_is_used_and_stored(api, approved):
    project, _, diff = approved
    status, body = await commit(api, diff.id, {"commit_message": "feat: speak like a pirate\n\nArr."})
    assert status == 200
    assert body["commit_message"] == "feat: speak like a pirate\n\nArr."
    message = git(repo_path(project), "log", "-1", "--format=%B")
    assert message.startswith("feat: speak like a pirate\n\nArr.\n\nVibegrapher-Diff: ")


async def test_typed_trailers_cannot_pose_as_the_servers(api, approved):
    project, _, diff = approved
    fake = uuid.uuid4()
    status, _ = await commit(api, diff.id, {"commit_message": f"Pirate\n\nVibegrapher-Diff: {fake}"})
    assert status == 200
    assert str(fake) not in git(repo_path(project), "log", "-1", "--format=%B")


async def test_commit_broadcasts_code_changed(api, approved, socket_factory):
    project, _, diff = approved
    socket = socket_factory(f"/ws/projects/{project.id}")
    assert (await socket.connect())[0]
    await socket.receive_until("subscribed")
    status, body = await commit(api, diff.id)
    assert status == 200
    event = await socket.receive_until("code_changed")
    print("code_changed:", {**event["data"], "new_code": "..."})
    assert event["data"] == {
        "project_id": str(project.id),
        "new_code": PIRATE_CODE,
        "commit_sha": body["committed_sha"],
        "diff_id": str(diff.id),
    }


@pytest.mark.parametrize("make", ["proposed", "rejected", "committed"])
async def test_commit_of_a_diff_not_human_approved_is_409(api, make, no_provider):
    project, session = await sync_to_async(project_with_session)()
    diff = await sync_to_async(proposed_diff)(project=project, session=session, new_code=PIRATE_CODE)
    if make == "rejected":
        diff, _ = await sync_to_async(services.diff_reject)(diff=diff, feedback="No.")
    if make == "committed":
        await sync_to_async(services.diff_approve)(diff=diff)
        await sync_to_async(services.diff_commit)(diff=diff)
    before = git_state(project)
    status, body = await commit(api, diff.id)
    assert status == 409
    expected = {"proposed": "evaluator_approved", "rejected": "human_rejected", "committed": "committed"}[make]
    assert expected in body["detail"]
    assert git_state(project) == before


async def test_commit_of_unknown_diff_is_404(api):
    status, body = await commit(api, uuid.uuid4())
    assert status == 404
    assert body["detail"] == "No Diff matches the given query."


@pytest.mark.parametrize("body", [{"commit_message": ""}, {"commit_message": ["x"]}, {"commit_message": "x" * 5001}])
async def test_bad_commit_bodies_are_400(api, approved, body):
    project, _, diff = approved
    before = git_state(project)
    status, answer = await commit(api, diff.id, body)
    assert status == 400
    assert "commit_message" in answer["errors"]
    assert git_state(project) == before
    assert (await Diff.objects.aget(pk=diff.id)).status == Diff.Status.HUMAN_APPROVED


@pytest.mark.parametrize("commit_message", NOT_STRINGS)
async def test_commit_message_that_is_not_a_string_is_400(api, approved, commit_message):
    project, _, diff = approved
    before = git_state(project)
    status, answer = await commit(api, diff.id, {"commit_message": commit_message})
    assert status == 400
    assert answer["errors"]["commit_message"] == ["Not a valid string."]
    assert git_state(project) == before
    assert (await Diff.objects.aget(pk=diff.id)).status == Diff.Status.HUMAN_APPROVED


async def test_base_moved_but_clean_is_merged_and_committed(api, approved):
    project, session, pirate = approved
    docstring = await sync_to_async(approved_diff)(project=project, session=session, new_code=DOCSTRING_CODE)
    assert (await commit(api, docstring.id))[0] == 200
    status, body = await commit(api, pirate.id)
    assert status == 200, body
    merged = git(repo_path(project), "show", "HEAD:workflow.py", strip=False)
    assert "You are a pirate assistant." in merged
    assert '"""A small OpenAI Agents SDK workflow.' in merged
    assert git(repo_path(project), "rev-list", "--count", "main") == "3"
    assert git(repo_path(project), "status", "--porcelain") == ""
    assert (await Project.objects.aget(pk=project.id)).current_code == merged


async def test_base_moved_and_conflicting_is_409_and_changes_nothing(api, approved, socket_factory):
    project, session, pirate = approved
    robot = await sync_to_async(approved_diff)(project=project, session=session, new_code=ROBOT_CODE)
    assert (await commit(api, robot.id))[0] == 200
    before = git_state(project)
    stored_before = await Project.objects.aget(pk=project.id)
    status, body = await commit(api, pirate.id)
    assert status == 409
    assert body["detail"].startswith("Base commit mismatch")
    assert git_state(project) == before
    stored = await Project.objects.aget(pk=project.id)
    assert (stored.current_commit, stored.current_code) == (stored_before.current_commit, stored_before.current_code)
    assert (await Diff.objects.aget(pk=pirate.id)).status == Diff.Status.HUMAN_APPROVED


async def test_diff_already_on_main_is_409(api, approved):
    project, session, pirate = approved
    twin = await sync_to_async(approved_diff)(project=project, session=session, new_code=PIRATE_CODE)
    assert (await commit(api, pirate.id))[0] == 200
    status, body = await commit(api, twin.id)
    assert status == 409
    assert "already there" in body["detail"]


async def test_two_concurrent_commits_one_wins(api):
    """Two approved diffs from the same base change the same line; both are committed at once."""
    project, session = await sync_to_async(project_with_session)()
    pirate = await sync_to_async(approved_diff)(project=project, session=session, new_code=PIRATE_CODE)
    robot = await sync_to_async(approved_diff)(project=project, session=session, new_code=ROBOT_CODE)
    results = await asyncio.gather(commit(api, pirate.id), commit(api, robot.id))
    statuses = sorted(status for status, _ in results)
    print("concurrent commit statuses:", statuses)
    assert statuses == [200, 409]
    winner = next(body for status, body in results if status == 200)
    loser = next(body for status, body in results if status == 409)
    assert loser["detail"].startswith("Base commit mismatch")
    state = git_state(project)
    assert state["count"] == 2
    assert state["head"] == winner["committed_sha"]
    assert state["porcelain"] == ""
    stored = await Project.objects.aget(pk=project.id)
    assert stored.current_commit == state["head"]
    assert stored.current_code == state["file"]
    assert sorted([d.status async for d in Diff.objects.filter(project=project)]) == ["committed", "human_approved"]


async def test_the_same_diff_committed_twice_at_once_makes_one_commit(api, approved):
    project, _, diff = approved
    results = await asyncio.gather(commit(api, diff.id), commit(api, diff.id))
    assert sorted(status for status, _ in results) == [200, 409]
    assert git_state(project)["count"] == 2


def test_commits_from_threads_are_serialized():
    """The service itself, from two threads with their own database connections, released together."""
    project, session = project_with_session()
    diffs = [approved_diff(project=project, session=session, new_code=code) for code in (PIRATE_CODE, ROBOT_CODE)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def commit_in_thread(diff: Diff) -> None:
        start.wait()
        try:
            services.diff_commit(diff=diff)
            outcomes.append("committed")
        except Conflict as exc:
            outcomes.append(f"409 {exc.detail}")
        finally:
            connection.close()

    threads = [threading.Thread(target=commit_in_thread, args=(diff,)) for diff in diffs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    print("thread outcomes:", outcomes)
    assert sorted(outcome[:28] for outcome in outcomes) == ["409 Base commit mismatch: di", "committed"]
    project.refresh_from_db()
    assert git_state(project)["count"] == 2
    assert project.current_commit == git_state(project)["head"]


def test_git_commit_is_undone_when_the_database_update_fails(monkeypatch):
    project, session = project_with_session()
    diff = approved_diff(project=project, session=session, new_code=PIRATE_CODE)
    before = git_state(project)

    def database_down(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("projects.services.project_head_update", database_down)
    with pytest.raises(RuntimeError, match="database went away"):
        services.diff_commit(diff=diff)
    assert git_state(project) == before
    assert (repo_path(project) / "workflow.py").read_text() == STARTER_WORKFLOW
    diff.refresh_from_db()
    assert (diff.status, diff.committed_sha) == (Diff.Status.HUMAN_APPROVED, None)


def test_a_commit_the_database_never_recorded_is_moved_off_main():
    """A process that died between the git commit and the database commit left main ahead of the record."""
    project, session = project_with_session()
    diff = approved_diff(project=project, session=session, new_code=PIRATE_CODE)
    orphan = repository.repository_commit(
        path=repo_path(project), code=ROBOT_CODE, message="never recorded", parent_sha=project.current_commit
    )
    committed = services.diff_commit(diff=diff)
    log = git(repo_path(project), "log", "--format=%H %s", "main").splitlines()
    print("git log after healing:", log)
    assert orphan.sha not in "\n".join(log)
    assert len(log) == 2
    assert git(repo_path(project), "show", "main:workflow.py", strip=False) == PIRATE_CODE
    assert committed.committed_sha == git(repo_path(project), "rev-parse", "main")


async def test_commit_clears_evaluator_memory_and_keeps_the_vibecoders(api, provider):
    _project, session = await sync_to_async(project_with_session)(name="Memory")
    provider.script(
        patch(PIRATE_PATCH, "Make the assistant a pirate", match="vibecoder"),
        evaluation(True, "Does what was asked.", "Make the assistant a pirate", match="evaluator"),
    )
    result = (await api.post(f"/sessions/{session.id}/messages", json={"prompt": "Pirate"})).json()
    db_path = session.conversations_db_path
    vibecoder_before = await asyncio.to_thread(memory_items, db_path=db_path, key=session.openai_session_key)
    evaluator_before = await asyncio.to_thread(memory_items, db_path=db_path, key=session.evaluator_session_key)
    assert vibecoder_before and evaluator_before

    assert (await review_approve(api, result["diff_id"])) == 200
    status, _ = await commit(api, result["diff_id"])
    assert status == 200
    vibecoder_after = await asyncio.to_thread(memory_items, db_path=db_path, key=session.openai_session_key)
    evaluator_after = await asyncio.to_thread(memory_items, db_path=db_path, key=session.evaluator_session_key)
    print(
        f"memory items: vibecoder {len(vibecoder_before)} -> {len(vibecoder_after)}, evaluator {len(evaluator_before)} -> {len(evaluator_after)}"
    )
    assert evaluator_after == []
    assert vibecoder_after == vibecoder_before


async def review_approve(api, diff_id) -> int:
    return (await api.post(f"/diffs/{diff_id}/review", json={"approved": True})).status_code
