"""POST /projects/:id/revert: a new commit that undoes an earlier one; history is never rewritten."""

import uuid

import pytest
from asgiref.sync import sync_to_async

from diffs import services
from diffs.tests.builders import (
    DOCSTRING_CODE,
    HELPFUL,
    PIRATE_CODE,
    ROBOT_CODE,
    approved_diff,
    project_with_session,
    repo_path,
)
from projects.models import Project
from projects.starter_code import STARTER_WORKFLOW
from projects.tests.git_cli import git

pytestmark = pytest.mark.django_db(transaction=True)


def committed(project, session, code: str) -> str:
    project.refresh_from_db()
    sha = services.diff_commit(diff=approved_diff(project=project, session=session, new_code=code)).committed_sha
    assert sha is not None
    return sha


@pytest.fixture
async def history():
    """Initial commit, then the pirate change, then the docstring change."""
    project, session = await sync_to_async(project_with_session)(name="History")
    initial = project.current_commit
    pirate = await sync_to_async(committed)(project, session, PIRATE_CODE)
    docstring = await sync_to_async(committed)(
        project, session, DOCSTRING_CODE.replace(HELPFUL, "You are a pirate assistant.")
    )
    return project, session, {"initial": initial, "pirate": pirate, "docstring": docstring}


async def revert(api, project_id, body) -> tuple[int, dict]:
    response = await api.post(f"/projects/{project_id}/revert", json=body)
    print(f"POST /projects/{str(project_id)[:8]}/revert {body} -> {response.status_code} {str(response.json())[:300]}")
    return response.status_code, response.json()


async def test_revert_adds_a_commit_that_restores_the_content(api, history, socket_factory):
    project, _, shas = history
    socket = socket_factory(f"/ws/projects/{project.id}")
    assert (await socket.connect())[0]
    await socket.receive_until("subscribed")
    status, body = await revert(api, project.id, {"commit_sha": shas["pirate"]})
    assert status == 200
    repo = repo_path(project)
    head = git(repo, "rev-parse", "main")
    assert body["id"] == str(project.id)
    assert body["current_commit"] == head
    expected = DOCSTRING_CODE
    assert body["current_code"] == expected
    assert git(repo, "show", "main:workflow.py", strip=False) == expected
    assert git(repo, "rev-list", "--count", "main") == "4"
    assert git(repo, "rev-parse", "main^") == shas["docstring"], "history is kept, the revert is on top"
    assert git(repo, "log", "-1", "--format=%B") == f'Revert "Change it"\n\nThis reverts commit {shas["pirate"]}.'
    assert git(repo, "status", "--porcelain") == ""
    stored = await Project.objects.aget(pk=project.id)
    assert (stored.current_commit, stored.current_code) == (head, expected)
    event = await socket.receive_until("code_changed")
    assert event["data"]["diff_id"] is None
    assert event["data"]["commit_sha"] == head
    commits = (await api.get(f"/projects/{project.id}/commits")).json()
    assert commits[0]["sha"] == head and commits[0]["diff_id"] is None


async def test_revert_accepts_a_short_sha(api, history):
    project, _, shas = history
    status, body = await revert(api, project.id, {"commit_sha": shas["docstring"][:10].upper()})
    assert status == 200
    assert body["current_code"] == PIRATE_CODE


async def test_reverting_the_head_twice_second_time_changes_nothing(api, history):
    project, _, shas = history
    assert (await revert(api, project.id, {"commit_sha": shas["docstring"]}))[0] == 200
    head = git(repo_path(project), "rev-parse", "main")
    status, body = await revert(api, project.id, {"commit_sha": shas["docstring"]})
    assert status == 409
    assert "changes nothing" in body["detail"]
    assert git(repo_path(project), "rev-parse", "main") == head


async def test_revert_of_the_initial_commit_is_409(api, history):
    project, _, shas = history
    status, body = await revert(api, project.id, {"commit_sha": shas["initial"]})
    assert status == 409
    assert "initial commit" in body["detail"]


async def test_revert_that_does_not_apply_is_409_and_changes_nothing(api):
    project, session = await sync_to_async(project_with_session)(name="Conflict")
    pirate = await sync_to_async(committed)(project, session, PIRATE_CODE)
    await sync_to_async(committed)(project, session, ROBOT_CODE.replace("robot", "pirate robot"))
    head = git(repo_path(project), "rev-parse", "main")
    status, body = await revert(api, project.id, {"commit_sha": pirate})
    assert status == 409
    assert "does not apply cleanly" in body["detail"]
    assert git(repo_path(project), "rev-parse", "main") == head
    assert (await Project.objects.aget(pk=project.id)).current_commit == head


async def test_unknown_sha_is_404(api, history):
    project, _, _ = history
    status, body = await revert(api, project.id, {"commit_sha": "0" * 40})
    assert status == 404
    assert "no commit" in body["detail"]


async def test_a_commit_of_another_project_is_404(api, history):
    project, _, _ = history
    other, other_session = await sync_to_async(project_with_session)(name="Other")
    robot = await sync_to_async(committed)(other, other_session, ROBOT_CODE)
    status, _ = await revert(api, project.id, {"commit_sha": robot})
    assert status == 404


async def test_unknown_project_is_404(api):
    status, _ = await revert(api, uuid.uuid4(), {"commit_sha": "a" * 40})
    assert status == 404


@pytest.mark.parametrize("body", [{}, {"commit_sha": "xyz"}, {"commit_sha": "abc"}, {"commit_sha": "a" * 41}])
async def test_bad_bodies_are_400(api, history, body):
    project, _, _ = history
    status, answer = await revert(api, project.id, body)
    assert status == 400
    assert "commit_sha" in answer["errors"]


@pytest.mark.parametrize("commit_sha", [1234, 4.5, True, ["abcd"], {"sha": "abcd"}])
async def test_sha_that_is_not_a_string_is_400(api, history, commit_sha):
    # 1234 would match the sha pattern once turned into text; a number is still not a sha.
    project, _, shas = history
    status, answer = await revert(api, project.id, {"commit_sha": commit_sha})
    assert status == 400
    assert answer["errors"]["commit_sha"] == ["Not a valid string."]
    await project.arefresh_from_db()
    assert project.current_commit == shas["docstring"]


async def test_revert_keeps_a_starter_project_runnable(api):
    project, session = await sync_to_async(project_with_session)(name="Back")
    pirate = await sync_to_async(committed)(project, session, PIRATE_CODE)
    status, body = await revert(api, project.id, {"commit_sha": pirate})
    assert status == 200
    assert body["current_code"] == STARTER_WORKFLOW
    compile(body["current_code"], "workflow.py", "exec")
