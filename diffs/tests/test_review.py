"""POST /diffs/:id/review and GET /diffs/:id/preview, as a client sees them."""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async

from diffs.models import Diff
from diffs.services import diff_commit
from diffs.tests.builders import (
    PIRATE_CODE,
    PIRATE_PATCH,
    ROBOT_CODE,
    ROBOT_PATCH,
    approved_diff,
    pending_diff,
    project_with_session,
    proposed_diff,
)
from model_double.script import evaluation, patch
from projects.starter_code import STARTER_WORKFLOW
from sessions.models import ConversationMessage, VibecodeRun
from sessions.vibecoder.executor import run_wait
from tests.samples import NOT_STRINGS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def pending():
    """A project, its global session, and a diff waiting for review."""
    return await sync_to_async(pending_diff)()


async def review(api, diff_id, body) -> tuple[int, dict]:
    response = await api.post(f"/diffs/{diff_id}/review", json=body)
    print(f"POST /diffs/{str(diff_id)[:8]}/review {body} -> {response.status_code} {response.json()}")
    return response.status_code, response.json()


# --- preview -----------------------------------------------------------------------------------------


async def test_preview_shows_the_file_before_and_after(api, pending):
    _project, _, diff = pending
    response = await api.get(f"/diffs/{diff.id}/preview")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"diff_id", "original_code", "preview_code", "diff_content", "commit_message", "changes"}
    assert body["diff_id"] == str(diff.id)
    assert body["original_code"] == STARTER_WORKFLOW
    assert body["preview_code"] == PIRATE_CODE
    assert body["diff_content"] == diff.diff_content
    assert body["commit_message"] == "Change it"


async def test_preview_reads_the_base_commit_even_after_main_moved(api, pending):
    project, session, diff = pending
    other = await sync_to_async(approved_diff)(
        project=project, session=session, new_code=STARTER_WORKFLOW.replace("briefly", "at length")
    )
    await sync_to_async(diff_commit)(diff=other)
    body = (await api.get(f"/diffs/{diff.id}/preview")).json()
    assert body["original_code"] == STARTER_WORKFLOW


async def test_preview_of_unknown_diff_is_404(api):
    response = await api.get(f"/diffs/{uuid.uuid4()}/preview")
    assert response.status_code == 404
    assert response.json()["detail"] == "No Diff matches the given query."
    assert (await api.get("/diffs/not-a-uuid/preview")).status_code == 404


# --- approve -----------------------------------------------------------------------------------------


async def test_approve_moves_to_human_approved(api, pending):
    _, _, diff = pending
    status, body = await review(api, diff.id, {"approved": True})
    assert status == 200
    assert body["id"] == str(diff.id)
    assert body["status"] == "human_approved"
    assert body["human_feedback"] is None
    assert (await Diff.objects.aget(pk=diff.id)).status == Diff.Status.HUMAN_APPROVED


async def test_approve_keeps_a_comment(api, pending):
    _, _, diff = pending
    status, body = await review(api, diff.id, {"approved": True, "feedback": "Nice one."})
    assert status == 200
    assert body["human_feedback"] == "Nice one."


async def test_second_review_is_409_naming_the_status(api, pending):
    _, _, diff = pending
    assert (await review(api, diff.id, {"approved": True}))[0] == 200
    status, body = await review(api, diff.id, {"approved": True})
    assert status == 409
    assert "human_approved" in body["detail"]
    status, body = await review(api, diff.id, {"approved": False, "feedback": "No."})
    assert status == 409
    assert "human_approved" in body["detail"]
    assert (await Diff.objects.aget(pk=diff.id)).status == Diff.Status.HUMAN_APPROVED


async def test_review_of_committed_diff_is_409(api, pending):
    project, session, _ = pending
    committed = await sync_to_async(approved_diff)(project=project, session=session, new_code=PIRATE_CODE)
    await sync_to_async(diff_commit)(diff=committed)
    status, body = await review(api, committed.id, {"approved": True})
    assert status == 409
    assert "committed" in body["detail"]


async def test_two_concurrent_reviews_only_one_wins(api, pending, no_provider):
    _, _, diff = pending
    results = await asyncio.gather(
        review(api, diff.id, {"approved": True}), review(api, diff.id, {"approved": False, "feedback": "No."})
    )
    assert sorted(status for status, _ in results) == [200, 409]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"approved": "maybe"},
        {"approved": None},
        {"approved": "true"},
        {"approved": 1},
        {"approved": 0},
        {"feedback": "no approved field"},
        {"approved": True, "feedback": ["x"]},
    ],
)
async def test_bad_review_bodies_are_400(api, pending, body):
    _, _, diff = pending
    status, answer = await review(api, diff.id, body)
    assert status == 400
    assert answer["detail"].startswith("Invalid input.")
    assert (await Diff.objects.aget(pk=diff.id)).status == Diff.Status.EVALUATOR_APPROVED


@pytest.mark.parametrize("approved", [True, False])
@pytest.mark.parametrize("feedback", NOT_STRINGS)
async def test_feedback_that_is_not_a_string_is_400(api, pending, no_provider, feedback, approved):
    _, _, diff = pending
    status, answer = await review(api, diff.id, {"approved": approved, "feedback": feedback})
    assert status == 400
    assert answer["detail"].startswith("Invalid input.")
    assert answer["errors"]["feedback"] == ["Not a valid string."]
    stored = await Diff.objects.aget(pk=diff.id)
    assert (stored.status, stored.human_feedback) == (Diff.Status.EVALUATOR_APPROVED, None)


async def test_malformed_json_is_400(api, pending):
    _, _, diff = pending
    response = await api.post(
        f"/diffs/{diff.id}/review", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "detail" in response.json()


async def test_review_of_unknown_diff_is_404(api):
    status, body = await review(api, uuid.uuid4(), {"approved": True})
    assert status == 404
    assert body["detail"] == "No Diff matches the given query."


# --- reject ------------------------------------------------------------------------------------------


async def _vibecoded_diff(api, provider, session_id: str) -> dict:
    provider.script(
        patch(PIRATE_PATCH, "Make the assistant a pirate", match="vibecoder"),
        evaluation(True, "Does what was asked.", "Make the assistant a pirate", match="evaluator"),
    )
    response = await api.post(f"/sessions/{session_id}/messages", json={"prompt": "Make it talk like a pirate"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending_human_review"
    return response.json()


async def test_reject_starts_a_new_run_with_the_feedback_and_answers_at_once(api, provider, socket_factory):
    project, session = await sync_to_async(project_with_session)(name="Reject")
    first = await _vibecoded_diff(api, provider, str(session.id))
    socket = socket_factory(f"/ws/projects/{project.id}")
    assert (await socket.connect())[0]
    await socket.receive_until("subscribed")

    # The second run: slow model replies, so the review answer must come before the run ends.
    provider.script(
        patch(ROBOT_PATCH, "Make the assistant a robot", match="vibecoder", delay=0.5),
        evaluation(True, "A robot, as the reviewer asked.", "Make the assistant a robot", match="evaluator"),
    )
    status, body = await review(api, first["diff_id"], {"approved": False, "feedback": "Not a pirate: a robot."})
    assert status == 200
    assert body["status"] == "human_rejected"
    assert body["human_feedback"] == "Not a pirate: a robot."

    run = await VibecodeRun.objects.filter(session=session).order_by("-created_at").afirst()
    assert run is not None and run.status in VibecodeRun.ACTIVE, "the review answered before the new run finished"
    assert "Not a pirate: a robot." in run.prompt
    assert '+    instructions="You are a pirate assistant.' in run.prompt

    created = await socket.receive_until("diff_created")
    result = await socket.receive_until("vibecode_response")
    print("rerun result:", result["data"])
    assert result["data"]["status"] == "pending_human_review"
    assert created["data"]["diff_id"] == result["data"]["diff_id"]
    finished = await run_wait(str(run.id))
    assert finished.status == VibecodeRun.Status.FINISHED

    vibecoder_request = provider.requests[-2]
    assert "Not a pirate: a robot." in str(vibecoder_request["input"])
    pending = (await api.get(f"/sessions/{session.id}/diffs/pending")).json()
    assert [d["id"] for d in pending] == [result["data"]["diff_id"]]
    new_diff = (await api.get(f"/diffs/{result['data']['diff_id']}")).json()
    assert '+    instructions="You are a robot assistant.' in new_diff["diff_content"]
    messages = (await api.get(f"/sessions/{session.id}/messages")).json()
    assert [(m["role"], m["agent"]) for m in messages[-3:]] == [
        ("user", "user"),
        ("assistant", "vibecoder"),
        ("assistant", "evaluator"),
    ]
    assert messages[-3]["content"] == "Not a pirate: a robot.", "the feedback is the new round's request"


async def test_reject_without_feedback_tells_the_vibecoder_to_try_another_way(api, provider):
    _project, session = await sync_to_async(project_with_session)(name="Silent")
    first = await _vibecoded_diff(api, provider, str(session.id))
    provider.script(
        patch(ROBOT_PATCH, "Make the assistant a robot", match="vibecoder"),
        evaluation(True, "Fine.", "Make the assistant a robot", match="evaluator"),
    )
    status, body = await review(api, first["diff_id"], {"approved": False})
    assert status == 200
    assert body["status"] == "human_rejected"
    assert body["human_feedback"] is None
    run = await VibecodeRun.objects.filter(session=session).order_by("-created_at").afirst()
    assert run is not None
    await run_wait(str(run.id))
    assert "propose a different approach" in run.prompt
    messages = (await api.get(f"/sessions/{session.id}/messages")).json()
    assert messages[-3]["content"] == "Rejected without feedback."


async def test_reject_while_a_run_is_active_is_409_and_the_diff_still_waits(api, provider):
    project, session = await sync_to_async(project_with_session)(name="Busy")
    diff = await sync_to_async(proposed_diff)(project=project, session=session, new_code=PIRATE_CODE)
    provider.script(
        patch(ROBOT_PATCH, "Robot", match="vibecoder", delay=1.0),
        evaluation(True, "Fine.", "Robot", match="evaluator"),
    )
    busy = await api.post(
        f"/sessions/{session.id}/messages", json={"prompt": "Robot"}, headers={"Prefer": "respond-async"}
    )
    assert busy.status_code == 202
    messages_before = await ConversationMessage.objects.filter(session=session).acount()

    status, body = await review(api, diff.id, {"approved": False, "feedback": "No pirates."})
    assert status == 409
    assert "in progress" in body["detail"] and "again" in body["detail"]
    assert (await api.get(f"/diffs/{diff.id}")).json()["status"] == "evaluator_approved"
    runs = [run async for run in VibecodeRun.objects.filter(session=session)]
    assert len(runs) == 1, "no second run while one is in progress"
    assert await ConversationMessage.objects.filter(session=session).acount() == messages_before
    await run_wait(str(runs[0].id))

    provider.script(
        patch(ROBOT_PATCH, "Robot", match="vibecoder"), evaluation(True, "Fine.", "Robot", match="evaluator")
    )
    status, body = await review(api, diff.id, {"approved": False, "feedback": "No pirates."})
    assert (status, body["status"]) == (200, "human_rejected")
    rerun = await VibecodeRun.objects.filter(session=session).order_by("-created_at").afirst()
    assert rerun is not None and rerun.id != runs[0].id
    await run_wait(str(rerun.id))


async def test_reject_without_provider_rejects_and_says_why(api, no_provider):
    project, session = await sync_to_async(project_with_session)(name="Keyless")
    diff = await sync_to_async(proposed_diff)(project=project, session=session, new_code=PIRATE_CODE)
    status, body = await review(api, diff.id, {"approved": False, "feedback": "No."})
    assert status == 200
    assert body["status"] == "human_rejected"
    assert not await VibecodeRun.objects.filter(session=session).aexists()
    note = await ConversationMessage.objects.filter(session=session, role="system").alast()
    assert note is not None
    assert "OPENAI_API_KEY" in note.content


# --- a deleted session -------------------------------------------------------------------------------


async def test_diffs_outlive_their_deleted_session_and_can_still_be_reviewed_and_committed(api, provider):
    project, session = await sync_to_async(project_with_session)(name="Deleted Session")
    committed = await sync_to_async(approved_diff)(project=project, session=session, new_code=PIRATE_CODE)
    committed = await sync_to_async(diff_commit)(diff=committed)
    pending = await sync_to_async(proposed_diff)(
        project=project, session=session, new_code=ROBOT_CODE, base_commit=committed.committed_sha
    )
    rejected = await sync_to_async(proposed_diff)(
        project=project, session=session, new_code=ROBOT_CODE, base_commit=committed.committed_sha
    )

    response = await api.delete(f"/sessions/{session.id}")
    print("DELETE /sessions/:id ->", response.status_code)
    assert response.status_code == 204

    listed = (await api.get(f"/projects/{project.id}/diffs")).json()
    print("GET /projects/:id/diffs after the delete:", [(d["status"], d["session_id"]) for d in listed])
    assert {d["id"] for d in listed} == {str(committed.id), str(pending.id), str(rejected.id)}
    assert all(d["session_id"] is None for d in listed)
    shown = (await api.get(f"/diffs/{committed.id}")).json()
    assert (shown["status"], shown["committed_sha"]) == ("committed", committed.committed_sha)

    # The evaluator's answer to refine-message would be stored in the session, which is gone.
    response = await api.post(f"/diffs/{pending.id}/refine-message", json={})
    print("POST /diffs/:id/refine-message ->", response.status_code, response.json())
    assert response.status_code == 409
    assert "deleted" in response.json()["detail"]

    # A pending diff is still a change someone may want: approve and commit it.
    assert (await review(api, pending.id, {"approved": True}))[0] == 200
    response = await api.post(f"/diffs/{pending.id}/commit", json={})
    print("POST /diffs/:id/commit ->", response.status_code, response.json().get("status"))
    assert response.status_code == 200, response.text
    log = (await api.get(f"/projects/{project.id}/commits")).json()
    print("newest commit:", log[0])
    assert log[0]["sha"] == response.json()["committed_sha"]
    assert log[0]["diff_id"] == str(pending.id) and log[0]["session_id"] is None

    # Rejecting one records the rejection; with no conversation left, no new run starts and no model is called.
    status, body = await review(api, rejected.id, {"approved": False, "feedback": "Not like this."})
    assert status == 200
    assert (body["status"], body["human_feedback"]) == ("human_rejected", "Not like this.")
    assert await VibecodeRun.objects.acount() == 0
    assert provider.requests == []
