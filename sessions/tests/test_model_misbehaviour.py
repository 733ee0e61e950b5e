"""A model that misbehaves at the wire: odd answers are the provider's failure (502, stored, broadcast)
or go back to the model with the reason, never a crash of the run, and every paid step is kept."""

import json

import openai
import pytest

from model_double.script import error, evaluation, function_call, output_items, patch, raw, reply, text
from sessions.vibecoder.provider import provider_error_text
from tests.samples import PIRATE_PATCH as PATCH

pytestmark = pytest.mark.django_db(transaction=True)

REFUSAL = "I can't help with that."


def message_item(*parts: dict) -> dict:
    return {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": list(parts)}


def refusal_item() -> dict:
    return message_item({"type": "refusal", "refusal": REFUSAL})


def tool_outputs(request: dict) -> list[str]:
    """What the service sent back to the model for its tool calls."""
    return [item["output"] for item in request["input"] if item.get("type") == "function_call_output"]


async def post(api, session, prompt="Make it talk like a pirate"):
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": prompt})
    print(f"POST messages ({prompt!r}) ->", response.status_code, response.text[:400])
    return response, response.json()


async def messages_of(api, session) -> list[dict]:
    return (await api.get(f"/sessions/{session['id']}/messages")).json()


@pytest.mark.parametrize(
    "arguments, says",
    [
        ("[1, 2]", "the arguments are a JSON list, not an object"),
        ('{"patch": "--- a/wo', "the arguments are not valid JSON"),
        ('{"description": "no patch"}', '"patch" is missing'),
        ('{"patch": 123, "description": "x"}', '"patch" must be a string, not 123'),
        ('{"patch": null, "description": "x"}', '"patch" must be a string, not null'),
    ],
)
async def test_unusable_tool_arguments_go_back_to_the_model_with_the_reason(api, provider, session, arguments, says):
    provider.script(
        function_call("submit_patch", arguments, usage=(10, 1), match="vibecoder"),
        patch(PATCH, "Pirate", usage=(20, 2), match="vibecoder"),
        evaluation(True, "ok", "Pirate", usage=(30, 3), match="evaluator"),
    )
    response, body = await post(api, session)
    told = tool_outputs(provider.requests[1])
    print("the model was told:", told)
    assert (response.status_code, body["status"]) == (200, "pending_human_review")
    assert len(told) == 1 and says in told[0] and told[0].startswith("Error: the patch was not applied")
    assert body["token_usage"]["total_tokens"] == 66 and body["token_usage"]["model_calls"] == 3
    steps = await messages_of(api, session)
    first_step = steps[1]
    assert first_step["agent"] == "vibecoder" and first_step["patch_preview"] is None
    assert "could not be read" in first_step["content"]


async def test_an_unknown_output_item_beside_the_answer_is_kept_and_the_answer_stands(api, provider, session):
    provider.script(
        output_items(
            [{"type": "brand_new_item", "id": "x1"}, message_item({"type": "output_text", "text": "Hello."})],
            usage=(5, 2),
        )
    )
    response, body = await post(api, session, "What is this?")
    assert (response.status_code, body["status"], body["content"]) == (200, "answered", "Hello.")
    assert body["token_usage"]["total_tokens"] == 7
    steps = await messages_of(api, session)
    assert [(m["agent"], m["content"]) for m in steps] == [("user", "What is this?"), ("vibecoder", "Hello.")]
    full = (await api.get(f"/messages/{steps[1]['id']}/full")).json()
    assert full["openai_response"]["output"][0]["type"] == "brand_new_item"


@pytest.mark.parametrize(
    "answer, says",
    [
        (raw({}), 'no "id"'),
        (raw({"error": {"message": "quota gone", "type": "x"}}), "answered 200 with an error: quota gone"),
        (raw([1, 2]), "the body is a JSON list"),
        (raw({"id": "resp_1", "object": "response"}), 'no "output" list'),
        # Model calls of a run stream: a whole response as JSON is not what was asked for.
        (raw({"id": "resp_1", "object": "response", "output": []}), "request for an event stream with a JSON body"),
    ],
)
async def test_a_200_that_is_no_response_object_is_a_provider_failure(api, provider, session, answer, says):
    provider.script(answer)
    response, body = await post(api, session)
    assert response.status_code == 502
    assert body["status"] == "failed"
    assert "could not be read" in body["detail"] and says in body["detail"]
    assert "ValidationError" not in body["detail"] and "unexpectedly" not in body["detail"]
    assert [m["role"] for m in await messages_of(api, session)] == ["user", "system"]


async def test_an_event_stream_that_ends_without_a_response_is_a_provider_failure(api, provider, session):
    provider.script(raw('data: {"type": "response.in_progress"}\n\n', content_type="text/event-stream"))
    response, body = await post(api, session)
    assert (response.status_code, body["status"]) == (502, "failed")
    assert "did not produce a final response" in body["detail"]
    assert [m["role"] for m in await messages_of(api, session)] == ["user", "system"]


async def test_a_lone_surrogate_in_the_answer_is_a_provider_failure(api, provider, session):
    arguments = '{"patch": "x", "description": "bad \\ud800 surrogate"}'
    provider.script(function_call("submit_patch", arguments))
    response, body = await post(api, session)
    assert (response.status_code, body["status"]) == (502, "failed")
    assert "lone UTF-16 surrogate" in body["detail"]
    assert [m["role"] for m in await messages_of(api, session)] == ["user", "system"]


async def test_a_vibecoder_refusal_is_its_answer(api, provider, session):
    provider.script(output_items([refusal_item()], usage=(4, 2), match="vibecoder"))
    response, body = await post(api, session)
    assert (response.status_code, body["status"], body["content"]) == (200, "answered", REFUSAL)
    steps = await messages_of(api, session)
    assert (steps[-1]["agent"], steps[-1]["content"]) == ("vibecoder", REFUSAL)
    assert body["token_usage"]["total_tokens"] == 6


async def test_an_evaluator_refusal_is_a_provider_failure_that_says_so(api, provider, session):
    provider.script(patch(PATCH, "Pirate", match="vibecoder"), output_items([refusal_item()], match="evaluator"))
    response, body = await post(api, session)
    assert (response.status_code, body["status"]) == (502, "failed")
    assert body["detail"].endswith(f"The model refused: {REFUSAL}")
    steps = await messages_of(api, session)
    assert [m["agent"] for m in steps] == ["user", "vibecoder", "evaluator", "system"]
    assert steps[2]["content"] == REFUSAL


@pytest.mark.parametrize(
    "answer", [output_items([]), output_items([{"type": "reasoning", "id": "rs_1", "summary": []}])]
)
async def test_an_evaluator_answer_without_a_verdict_fails_after_one_call(api, provider, session, answer):
    provider.script(patch(PATCH, "Pirate", match="vibecoder"), answer, evaluation(True, "late", "Late"))
    response, body = await post(api, session)
    evaluator_calls = [r for r in provider.requests if "text" in r and "json_schema" in json.dumps(r["text"])]
    assert (response.status_code, body["status"]) == (502, "failed")
    assert "without a verdict" in body["detail"]
    assert len(evaluator_calls) == 1, "one review is one evaluator call"


@pytest.mark.parametrize("answer", [output_items([]), text("")])
async def test_an_empty_vibecoder_answer_is_a_provider_failure_not_a_blank_answer(api, provider, session, answer):
    provider.script(answer)
    response, body = await post(api, session, "What is this?")
    assert (response.status_code, body["status"]) == (502, "failed")
    assert "neither text nor a patch" in body["detail"]


async def test_only_the_first_of_two_patch_calls_in_one_answer_is_applied(api, provider, session):
    second = PATCH.replace("You are a pirate assistant.", "You are a robot assistant.")
    provider.script(
        reply(
            function_call("submit_patch", {"patch": PATCH, "description": "first"}, call_id="call_first"),
            function_call("submit_patch", {"patch": second, "description": "second"}, call_id="call_second"),
            match="vibecoder",
        ),
        evaluation(True, "ok", "Pirate", match="evaluator"),
    )
    response, body = await post(api, session)
    assert (response.status_code, body["status"], body["content"]) == (200, "pending_human_review", "first")
    diff = (await api.get(f"/diffs/{body['diff_id']}")).json()
    assert "pirate assistant" in diff["diff_content"] and "robot" not in diff["diff_content"]
    step = (await messages_of(api, session))[1]
    assert step["content"] == "first" and "pirate" in step["patch_preview"]


async def test_a_blank_commit_message_is_replaced_on_the_diff_as_on_the_commit(api, provider, session):
    provider.script(patch(PATCH, "Pirate"), evaluation(True, "ok", "  \n "))
    response, body = await post(api, session)
    assert body["commit_message"] == "Update workflow.py"
    diff = (await api.get(f"/diffs/{body['diff_id']}")).json()
    assert diff["commit_message"] == "Update workflow.py"


async def test_refine_message_answers_502_when_the_model_answer_is_unusable(api, provider, session):
    provider.script(patch(PATCH, "Pirate"), evaluation(True, "ok", "Pirate"))
    _, body = await post(api, session)
    for answer, says in [
        (raw({}), 'no "id"'),
        (output_items([refusal_item()]), "refused while refining"),
        (raw("data: {}\n\n", content_type="text/event-stream"), "event stream to a request that did not ask"),
    ]:
        provider.script(answer)
        response = await api.post(f"/diffs/{body['diff_id']}/refine-message", json={})
        print("refine-message ->", response.status_code, response.text)
        assert response.status_code == 502
        assert says in response.json()["detail"]


def test_a_connection_closed_without_a_word_still_says_what_happened():
    import httpx2

    request = httpx2.Request("POST", "http://model.invalid/v1/responses")
    failure = openai.APIConnectionError(request=request)
    failure.__cause__ = httpx2.ReadError("")
    text_ = provider_error_text(failure)
    print(text_)
    assert text_ == (
        "The connection to the model provider failed: ReadError, the connection was closed before the answer "
        "was complete"
    )


async def test_a_provider_error_after_a_patch_keeps_the_paid_step(api, provider, session):
    provider.script(patch(PATCH, "Pirate", usage=(9, 1)), error(400, "bad request"))
    response, body = await post(api, session)
    assert response.status_code == 502
    steps = await messages_of(api, session)
    assert [m["agent"] for m in steps] == ["user", "vibecoder", "system"]
    assert steps[1]["token_usage"]["total_tokens"] == 10
