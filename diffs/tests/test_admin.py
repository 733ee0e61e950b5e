"""The Django admin as a review queue, used by a staff member through the test client."""

import time

import pytest
from django.test import AsyncClient
from django.urls import reverse

from diffs import services
from diffs.models import Diff
from diffs.tests.builders import (
    PIRATE_CODE,
    ROBOT_CODE,
    ROBOT_PATCH,
    approved_diff,
    pending_diff,
    project_with_session,
    proposed_diff,
    repo_path,
)
from model_double.script import evaluation, patch, text
from projects import repository
from projects.tests.git_cli import git
from sessions.models import VibecodeRun
from sessions.vibecoder.executor import run_wait

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def pending():
    return pending_diff(name="Admin Review", message="Make it a pirate")


def change_url(diff: Diff) -> str:
    return reverse("admin:diffs_diff_change", args=[diff.pk])


def action_url(diff: Diff, action: str) -> str:
    return reverse(f"admin:diffs_diff_{action}", args=[diff.pk])


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_admin_needs_a_staff_login(client, pending):
    _, _, diff = pending
    for url in (reverse("admin:diffs_diff_changelist"), change_url(diff), action_url(diff, "approve")):
        response = client.get(url) if "approve" not in url else client.post(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
    assert Diff.objects.get(pk=diff.pk).status == Diff.Status.EVALUATOR_APPROVED


def test_changelist_shows_diffs_waiting_for_review_by_default(staff, pending):
    project, session, waiting = pending
    done = approved_diff(project=project, session=session, new_code=ROBOT_CODE, message="Make it a robot")
    response = staff.get(reverse("admin:diffs_diff_changelist"))
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == [waiting]
    assert b"Make it a pirate" in response.content
    assert b"Make it a robot" not in response.content

    everything = staff.get(reverse("admin:diffs_diff_changelist"), {"status": "all"})
    assert [d.pk for d in everything.context["cl"].result_list] == [done.pk, waiting.pk], "newest first"
    approved_only = staff.get(reverse("admin:diffs_diff_changelist"), {"status": "human_approved"})
    assert list(approved_only.context["cl"].result_list) == [done]
    by_project = staff.get(
        reverse("admin:diffs_diff_changelist"), {"status": "all", "project__id__exact": str(project.pk)}
    )
    assert len(by_project.context["cl"].result_list) == 2


def test_change_page_renders_the_diff_reasoning_and_actions(staff, pending):
    _, _, diff = pending
    response = staff.get(change_url(diff))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span class="diff-added">+    instructions=&quot;You are a pirate assistant.' in html
    assert '<span class="diff-removed">-    instructions=&quot;You are a helpful assistant.' in html
    assert '<span class="diff-hunk">@@ ' in html
    assert "Does what was asked." in html
    assert 'id="diff-approve"' in html and 'id="diff-reject"' in html and 'id="diff-run-tests"' in html
    assert 'id="diff-commit"' not in html
    assert 'name="_save"' not in html, "diffs are not edited by hand"
    assert "No tests have run on this diff." in html


def test_change_page_shows_cached_test_results(staff, pending):
    _, _, diff = pending
    Diff.objects.filter(pk=diff.pk).update(
        test_results={
            "results": [{"test_name": "has_assistant", "status": "passed", "output": "ok", "execution_time_ms": 42}]
        }
    )
    html = staff.get(change_url(diff)).content.decode()
    assert "has_assistant" in html
    assert '<td class="test-passed">passed</td>' in html


def test_approve_then_commit_from_the_change_page(staff, pending):
    project, _session, diff = pending
    before = git(repo_path(project), "rev-parse", "main")
    response = staff.post(action_url(diff, "approve"), follow=True)
    assert response.status_code == 200
    assert page_messages(response) == [f"Diff {diff.id} approved."]
    assert Diff.objects.get(pk=diff.pk).status == Diff.Status.HUMAN_APPROVED
    assert 'id="diff-commit"' in response.content.decode()

    response = staff.post(action_url(diff, "commit"), follow=True)
    diff.refresh_from_db()
    assert diff.status == Diff.Status.COMMITTED
    head = git(repo_path(project), "rev-parse", "main")
    assert head != before and diff.committed_sha == head
    assert page_messages(response) == [f"Diff {diff.id} committed as {head[:12]} on main."]
    assert git(repo_path(project), "show", "main:workflow.py", strip=False) == PIRATE_CODE
    assert f"Vibegrapher-Diff: {diff.id}" in git(repo_path(project), "log", "-1", "--format=%B")


def test_refusals_are_shown_as_messages(staff, pending):
    _, _, diff = pending
    response = staff.post(action_url(diff, "commit"), follow=True)
    assert "evaluator_approved" in page_messages(response)[0]
    services.diff_approve(diff=diff)
    response = staff.post(action_url(diff, "approve"), follow=True)
    assert "human_approved" in page_messages(response)[0]


def test_actions_only_take_post(staff, pending):
    _, _, diff = pending
    for action in ("approve", "reject", "commit", "run_tests"):
        assert staff.get(action_url(diff, action)).status_code == 405
    assert Diff.objects.get(pk=diff.pk).status == Diff.Status.EVALUATOR_APPROVED


def test_reject_with_feedback_runs_the_vibecoder_again(staff, provider, pending):
    """Under the (WSGI) test client the request waits for the new run; see diffs/admin.py."""
    _, session, diff = pending
    provider.script(
        patch(ROBOT_PATCH, "Make the assistant a robot", match="vibecoder"),
        evaluation(True, "A robot, as asked.", "Make the assistant a robot", match="evaluator"),
    )
    response = staff.post(action_url(diff, "reject"), {"feedback": "A robot, please."}, follow=True)
    diff.refresh_from_db()
    assert (diff.status, diff.human_feedback) == (Diff.Status.HUMAN_REJECTED, "A robot, please.")
    print("messages:", page_messages(response))
    assert page_messages(response) == [f"Diff {diff.id} rejected. The new vibecode run ended: pending_human_review."]
    run = VibecodeRun.objects.get(session=session)
    assert "A robot, please." in run.prompt
    new = Diff.objects.filter(session=session, status=Diff.Status.EVALUATOR_APPROVED).get()
    assert "You are a robot assistant." in new.new_code


async def test_reject_under_asgi_answers_before_the_run_ends(provider, admin_user):
    from asgiref.sync import sync_to_async

    project, session = await sync_to_async(project_with_session)(name="Asgi Admin")
    diff = await sync_to_async(proposed_diff)(project=project, session=session, new_code=PIRATE_CODE)
    provider.script(
        patch(ROBOT_PATCH, "Make the assistant a robot", match="vibecoder", delay=0.5),
        evaluation(True, "A robot.", "Make the assistant a robot", match="evaluator"),
    )
    client = AsyncClient()
    await client.aforce_login(admin_user)
    started = time.monotonic()
    response = await client.post(action_url(diff, "reject"), {"feedback": "A robot."})
    answered_in = time.monotonic() - started
    assert response.status_code == 302
    run = await VibecodeRun.objects.aget(session=session)
    print(f"admin answered in {answered_in:.2f}s; run then {run.status}")
    assert run.status in VibecodeRun.ACTIVE
    finished = await run_wait(str(run.id))
    assert finished.result is not None
    assert finished.result["status"] == "pending_human_review"


def test_changelist_actions_approve_and_commit(staff, pending):
    project, _session, diff = pending
    changelist = reverse("admin:diffs_diff_changelist")
    response = staff.post(changelist, {"action": "approve_selected", "_selected_action": [str(diff.pk)]}, follow=True)
    assert page_messages(response) == [f"Diff {diff.id} approved."]
    response = staff.post(
        changelist + "?status=all", {"action": "commit_selected", "_selected_action": [str(diff.pk)]}, follow=True
    )
    diff.refresh_from_db()
    assert diff.status == Diff.Status.COMMITTED
    assert git(repo_path(project), "rev-parse", "main") == diff.committed_sha


def test_run_quick_tests_calls_the_testcases_service(staff, pending, monkeypatch):
    _, _, diff = pending
    calls = []

    def diff_run_tests(*, diff, test_ids):
        calls.append((diff.pk, test_ids))
        return {"diff_id": diff.id, "total": 2, "passed": 1, "failed": 1, "cached": 0, "results": []}

    monkeypatch.setattr("diffs.admin.diff_run_tests", diff_run_tests)
    response = staff.post(action_url(diff, "run_tests"), follow=True)
    assert calls == [(diff.pk, None)]
    assert page_messages(response) == [f"Quick tests of diff {diff.id}: 1 of 2 passed, 1 failed."]


def test_run_quick_tests_says_clearly_when_it_cannot(staff, pending, monkeypatch):
    _, _, diff = pending

    def broken(*, diff, test_ids):
        raise RuntimeError("sandbox exploded")

    monkeypatch.setattr("diffs.admin.diff_run_tests", broken)
    response = staff.post(action_url(diff, "run_tests"), follow=True)
    assert page_messages(response) == [
        f"The quick tests of diff {diff.id} failed to run: RuntimeError: sandbox exploded"
    ]


def test_try_it_runs_the_diffs_workflow_in_the_playground_and_shows_the_answer(staff, provider, pending):
    project, _, diff = pending
    html = staff.get(change_url(diff)).content.decode()
    assert 'id="diff-try-form"' in html and action_url(diff, "try") in html
    provider.script(text("Arr, the tide be high today.", usage=(20, 8)))
    response = staff.post(action_url(diff, "try"), {"input": "How is the sea?", "agent": ""})
    html = response.content.decode()
    assert response.status_code == 200, html
    assert 'id="try-status" class="try-status-completed">completed<' in html
    assert "Arr, the tide be high today." in html and "answered by <strong" in html
    assert "28 tokens in 1 model call" in html
    [request] = provider.requests
    print("the double received:", request["instructions"], request["input"][-1])
    assert "pirate" in request["instructions"]  # the diff's version of the workflow, not main's
    assert request["input"][-1] == {"role": "user", "content": "How is the sea?"}
    assert "pirate" not in repository.repository_head(path=repo_path(project)).code  # main unchanged


def test_try_it_without_input_or_with_an_unknown_agent_says_why(staff, provider, pending):
    _, _, diff = pending
    response = staff.post(action_url(diff, "try"), {"input": ""}, follow=True)
    assert page_messages(response) == ["Not run: * input\n  * This field is required."]
    response = staff.post(action_url(diff, "try"), {"input": "Hi", "agent": "no_such_agent"}, follow=True)
    [message] = page_messages(response)
    assert message.startswith("The playground did not run:") and "no_such_agent" in message
    assert provider.requests == []
    assert staff.get(action_url(diff, "try")).status_code == 405


def test_unknown_diff_in_an_action_is_404(staff):
    assert staff.post("/admin/diffs/diff/00000000-0000-0000-0000-000000000000/approve/").status_code == 404
    assert staff.post("/admin/diffs/diff/not-a-uuid/commit/").status_code == 404


def test_staff_who_may_only_view_see_no_actions(client, django_user_model, pending):
    from django.contrib.auth.models import Permission

    _, _, diff = pending
    viewer = django_user_model.objects.create_user(username="viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_diff"))
    client.force_login(viewer)
    html = client.get(change_url(diff)).content.decode()
    assert "You are a pirate assistant." in html
    assert 'id="diff-approve"' not in html
    assert client.post(action_url(diff, "approve")).status_code == 403
    assert Diff.objects.get(pk=diff.pk).status == Diff.Status.EVALUATOR_APPROVED


def test_run_quick_tests_in_the_sandbox(staff, pending):
    """The real testcases service: the quick test runs against the diff's code and its result is shown."""
    from testcases.services import test_case_create

    project, _session, diff = pending
    test_case_create(
        project=project,
        name="pirate_instructions",
        test_code="import workflow\n\ndef test_pirate():\n    assert 'pirate' in workflow.assistant_agent.instructions\n",
        quick_test=True,
    )
    response = staff.post(action_url(diff, "run_tests"), follow=True)
    print("messages:", page_messages(response))
    assert page_messages(response) == [f"Quick tests of diff {diff.id}: 1 of 1 passed, 0 failed."]
    html = response.content.decode()
    assert "pirate_instructions" in html
    assert '<td class="test-passed">passed</td>' in html
    response = staff.post(action_url(diff, "run_tests"), follow=True)
    assert "not rerun" in page_messages(response)[0]


def test_change_page_shows_the_graph_before_and_after_side_by_side(staff):
    project, session = project_with_session(name="Admin Graph")
    new_code = project.current_code.replace('name="Assistant"', 'name="Pirate Captain"')
    assert new_code != project.current_code
    diff = proposed_diff(project=project, session=session, new_code=new_code)
    html = staff.get(change_url(diff)).content.decode()
    before = html[html.index('id="diff-graph-before"') : html.index('id="diff-graph-after"')]
    after = html[html.index('id="diff-graph-after"') :]
    print(
        "before has Assistant:",
        ">Assistant</text>" in before,
        "after has Pirate Captain:",
        ">Pirate Captain</text>" in after,
    )
    assert "<svg" in before and ">Assistant</text>" in before
    assert "<svg" in after and ">Pirate Captain</text>" in after.split("</figure>")[0]
