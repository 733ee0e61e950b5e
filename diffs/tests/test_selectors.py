"""GET /projects/:id/diffs: a project's diffs newest first, filtered by ?status=."""

import uuid

import pytest
from asgiref.sync import sync_to_async

from diffs.models import Diff

pytestmark = pytest.mark.django_db(transaction=True)

STATUSES = ["evaluator_approved", "human_approved", "human_rejected", "committed"]


@pytest.fixture
async def project_with_diffs(api) -> tuple[dict, dict[str, str]]:
    """A project with one diff in each status (created in STATUSES order) and a diff in another project."""
    project = (await api.post("/projects", json={"name": "Diffs"})).json()
    other = (await api.post("/projects", json={"name": "Elsewhere"})).json()
    session = (await api.post(f"/projects/{project['id']}/sessions", json={})).json()
    other_session = (await api.post(f"/projects/{other['id']}/sessions", json={})).json()

    def make() -> dict[str, str]:
        ids = {}
        for status in STATUSES:
            diff = Diff.objects.create(
                session_id=session["id"],
                project_id=project["id"],
                base_commit=project["current_commit"],
                diff_content="diff --git a/workflow.py b/workflow.py\n",
                new_code="",
                commit_message=f"{status} change",
                status=status,
            )
            ids[status] = str(diff.id)
        Diff.objects.create(
            session_id=other_session["id"], project_id=other["id"], base_commit="", diff_content="", new_code=""
        )
        return ids

    return project, await sync_to_async(make)()


async def test_all_diffs_newest_first(api, project_with_diffs):
    project, ids = project_with_diffs
    response = await api.get(f"/projects/{project['id']}/diffs")
    body = response.json()
    print("GET /projects/:id/diffs ->", [d["status"] for d in body])
    assert response.status_code == 200
    assert [d["id"] for d in body] == [ids[s] for s in reversed(STATUSES)]
    assert all(d["project_id"] == project["id"] for d in body)


async def test_empty_status_means_no_filter(api, project_with_diffs):
    project, ids = project_with_diffs
    response = await api.get(f"/projects/{project['id']}/diffs?status=")
    assert response.status_code == 200
    assert len(response.json()) == len(STATUSES)


@pytest.mark.parametrize("status", STATUSES)
async def test_status_filter(api, project_with_diffs, status):
    project, ids = project_with_diffs
    response = await api.get(f"/projects/{project['id']}/diffs", params={"status": status})
    assert response.status_code == 200
    assert [(d["id"], d["status"]) for d in response.json()] == [(ids[status], status)]


@pytest.mark.parametrize("status", ["pending", "APPROVED", "committed,human_approved"])
async def test_unknown_status_is_400(api, project_with_diffs, status):
    project, _ = project_with_diffs
    response = await api.get(f"/projects/{project['id']}/diffs", params={"status": status})
    body = response.json()
    print(f"GET /projects/:id/diffs?status={status!r} ->", response.status_code, body)
    assert response.status_code == 400
    assert body["detail"]
    assert "status" in body["errors"]


async def test_project_without_diffs_has_an_empty_list(api):
    project = (await api.post("/projects", json={"name": "Quiet"})).json()
    response = await api.get(f"/projects/{project['id']}/diffs")
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("project_id", [str(uuid.uuid4()), "nope"])
async def test_diffs_of_unknown_project_are_404(api, project_id):
    response = await api.get(f"/projects/{project_id}/diffs")
    assert response.status_code == 404
    assert set(response.json()) == {"detail"}
