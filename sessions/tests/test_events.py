"""The run result has one shape: the REST answer and the `vibecode_response` event of the same run are
equal, whatever the outcome, and the OpenAPI schema lists every field they carry."""

import pytest

from model_double.script import error, evaluation, patch, text
from sessions.serializers import VibecodeResultSerializer
from sessions.tests.test_runs import left_running
from tests.samples import PIRATE_PATCH as PATCH

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = set(VibecodeResultSerializer().fields)


def _rejected_three_times():
    for round_number in range(1, 4):
        yield patch(PATCH, f"try {round_number}", match="vibecoder")
        yield evaluation(False, f"Not yet ({round_number}).", "x", match="evaluator")


OUTCOMES = {
    "pending_human_review": (
        lambda: [patch(PATCH, "Pirate", match="vibecoder"), evaluation(True, "Does it.", "Pirate", match="evaluator")],
        200,
    ),
    "answered": (lambda: [text("It greets people.")], 200),
    "max_iterations": (lambda: list(_rejected_three_times()), 200),
    "failed": (lambda: [error(500, "upstream broke")], 502),
}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
async def test_rest_result_and_event_are_the_same(api, provider, session, socket_factory, outcome):
    steps, expected_status = OUTCOMES[outcome]
    provider.script(*steps())
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    await socket.connect()
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate", "message_id": "m-1"})
    body = response.json()
    print(outcome, "->", response.status_code, body)
    assert response.status_code == expected_status
    event = await socket.receive_until("vibecode_response")
    body.pop("detail", None)  # the 502's reason, beside the result
    assert body == event["data"]
    assert body["status"] == outcome and set(body) == FIELDS
    if outcome == "pending_human_review":
        assert body["evaluator_reasoning"] == "Does it." and body["diff_id"]
    if outcome == "max_iterations":
        assert body["final_feedback"] == "Not yet (3)."
    if outcome == "failed":
        assert body["error_kind"] == "provider" and "500" in body["error"]
    again = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate", "message_id": "m-1"})
    again_body = again.json()
    again_body.pop("detail", None)
    assert again_body == event["data"], "a repeated message_id answers the same result"


async def test_interrupted_result_is_the_same_over_rest_and_the_event(api, provider, session, socket_factory):
    await left_running(session, minutes_ago=5)
    socket = socket_factory(f"/ws/projects/{session['project_id']}")
    await socket.connect()
    provider.script(text("Here."))
    await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Still there?"})  # reaps the dead run
    event = await socket.receive_until("vibecode_response")
    assert event["data"]["message_id"] == "left-1"
    body = (await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "x", "message_id": "left-1"})).json()
    print("interrupted ->", body)
    assert body == event["data"]
    assert (body["status"], body["error_kind"]) == ("failed", "interrupted") and set(body) == FIELDS


async def test_the_202_body_has_the_result_shape(api, provider, session):
    provider.script(text("Later."))
    response = await api.post(
        f"/sessions/{session['id']}/messages", json={"prompt": "Hi"}, headers={"Prefer": "respond-async"}
    )
    body = response.json()
    assert response.status_code == 202 and set(body) == FIELDS
    assert (body["status"], body["token_usage"], body["error"]) == ("processing", None, None)
    assert body["message_id"] and body["session_id"] == session["id"]


async def test_the_schema_lists_every_result_field(api):
    schema = (await api.get("/schema?format=json")).json()
    result = schema["components"]["schemas"]["VibecodeResult"]
    print("VibecodeResult:", sorted(result["properties"]))
    assert set(result["properties"]) == FIELDS
    assert set(result["required"]) == FIELDS
    assert {"evaluator_reasoning", "final_feedback", "error_kind"} <= FIELDS
