"""The quick-test gate: a patch runs the project's quick tests in the sandbox before the evaluator sees it."""

import pytest

from model_double.script import evaluation, patch, text
from tests.samples import PIRATE_PATCH

pytestmark = pytest.mark.django_db(transaction=True)

NOT_PIRATE = 'import workflow\nassert "pirate" not in workflow.assistant_agent.instructions, "no pirates here"\n'

POLITE_PATCH = """--- a/workflow.py
+++ b/workflow.py
@@ -6,3 +6,3 @@
     name="Assistant",
-    instructions="You are a helpful assistant. Answer clearly and briefly.",
+    instructions="You are a polite assistant. Answer clearly and briefly.",
 )
"""


def _tool_outputs(request: dict) -> list[str]:
    return [
        item["output"]
        for item in request["input"]
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    ]


async def _quick_test(api, project_id: str, name: str, code: str) -> dict:
    response = await api.post(
        f"/projects/{project_id}/tests", json={"name": name, "test_code": code, "quick_test": True}
    )
    assert response.status_code == 201, response.json()
    return response.json()


async def test_a_patch_that_breaks_a_quick_test_never_reaches_the_evaluator(api, provider, session):
    await _quick_test(api, session["project_id"], "no pirates", NOT_PIRATE)
    provider.script(
        patch(PIRATE_PATCH, "Pirate", match="vibecoder"),
        patch(POLITE_PATCH, "Polite", match="vibecoder"),
        evaluation(True, "Fine.", "Make the assistant polite", match="evaluator"),
    )
    body = (await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Change the tone"})).json()
    print("result:", body)
    assert body["status"] == "pending_human_review", body
    requests = provider.requests
    assert len(requests) == 3  # two vibecoder calls, one evaluator call (for the second patch only)
    told = _tool_outputs(requests[1])
    print("tool output after the first patch:", told)
    assert "'no pirates'" in told[0] and "failed" in told[0] and "no pirates here" in told[0]
    assert "polite assistant" in str(requests[2]["input"]) and "pirate assistant" not in str(requests[2]["input"])


async def test_a_passing_patch_shows_its_tests_to_the_evaluator_and_the_diff_carries_them(
    api, provider, session, socket_factory
):
    test = await _quick_test(
        api, session["project_id"], "assistant exists", "import workflow\nassert workflow.assistant_agent\n"
    )
    provider.script(
        patch(PIRATE_PATCH, "Pirate", match="vibecoder"),
        evaluation(True, "Fine.", "Make the assistant a pirate", match="evaluator"),
    )
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_until("subscribed")
    body = (await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"})).json()
    assert body["status"] == "pending_human_review", body
    evaluator_input = str(provider.requests[-1]["input"])
    print("evaluator input mentions:", [line for line in evaluator_input.split("\\n") if "assistant exists" in line])
    assert "assistant exists: passed" in evaluator_input

    diff = (await api.get(f"/diffs/{body['diff_id']}")).json()
    print("diff test_results:", diff["test_results"], diff["tests_run_at"])
    assert [(r["test_name"], r["status"]) for r in diff["test_results"]] == [("assistant exists", "passed")]
    assert diff["tests_run_at"]

    event = await socket.receive_until("test_completed")
    assert event["data"]["diff_id"] == body["diff_id"] and event["data"]["test_id"] == test["id"]

    tested = (await api.post(f"/diffs/{body['diff_id']}/test", json={})).json()
    print("POST /diffs/:id/test ->", tested)
    assert tested["cached"] is True and tested["passed"] == 1


async def test_without_quick_tests_the_evaluator_is_told_there_are_none(api, provider, session):
    provider.script(
        patch(PIRATE_PATCH, "Pirate", match="vibecoder"),
        evaluation(True, "Fine.", "Make the assistant a pirate", match="evaluator"),
    )
    body = (await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"})).json()
    assert body["status"] == "pending_human_review", body
    assert "no quick tests" in str(provider.requests[-1]["input"])
    diff = (await api.get(f"/diffs/{body['diff_id']}")).json()
    assert diff["test_results"] in (None, [])


async def test_a_scenario_quick_test_takes_part_in_the_gate(api, provider, session):
    """The scenario's conversation runs the patched workflow through the relay; its failure stops the patch."""
    response = await api.post(
        f"/projects/{session['project_id']}/tests",
        json={
            "name": "stays polite",
            "scenario": {"input": "Hi", "expect_output_contains": "Good day"},
            "quick_test": True,
        },
    )
    assert response.status_code == 201, response.json()
    provider.script(
        patch(PIRATE_PATCH, "Pirate", match="vibecoder"),
        text("Arr, ahoy!", match="other"),  # the pirate workflow answers the scenario: no "Good day"
        patch(POLITE_PATCH, "Polite", match="vibecoder"),
        text("Good day to you.", match="other"),
        evaluation(True, "Fine.", "Make the assistant polite", match="evaluator"),
    )
    body = (await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Change the tone"})).json()
    print("result:", body)
    assert body["status"] == "pending_human_review", body
    assert provider.errors == []
    requests = provider.requests
    assert len(requests) == 5  # no evaluator call for the pirate patch
    assert "pirate assistant" in requests[1]["instructions"]  # the scenario ran the patched workflow
    told = _tool_outputs(requests[2])
    print("tool output after the first patch:", told)
    assert "'stays polite'" in told[0] and "failed" in told[0] and "Good day" in told[0]
    assert "stays polite: passed" in str(requests[4]["input"])
    diff = (await api.get(f"/diffs/{body['diff_id']}")).json()
    assert [(r["test_name"], r["status"]) for r in diff["test_results"]] == [("stays polite", "passed")]
