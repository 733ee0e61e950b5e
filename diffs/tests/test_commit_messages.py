"""POST /diffs/:id/refine-message through the model double."""

import uuid

import pytest
from asgiref.sync import sync_to_async

from diffs import services
from diffs.models import Diff
from diffs.tests.builders import pending_diff
from model_double.script import error, json_output
from sessions.models import ConversationMessage
from tests.samples import NOT_STRINGS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def pending():
    return await sync_to_async(pending_diff)(message="change stuff")


async def refine(api, diff_id, body=None) -> tuple[int, dict]:
    response = await api.post(f"/diffs/{diff_id}/refine-message", json=body if body is not None else {})
    print(f"POST /diffs/{str(diff_id)[:8]}/refine-message {body} -> {response.status_code} {response.json()}")
    return response.status_code, response.json()


async def test_refined_message_comes_from_the_evaluator_and_changes_nothing(api, provider, pending):
    _, session, diff = pending
    provider.script(
        json_output(
            {"commit_message": "feat: make the assistant talk like a pirate"}, usage=(80, 12), match="structured"
        )
    )
    status, body = await refine(api, diff.id, {"prompt": "Use a conventional commit prefix"})
    assert status == 200
    assert body == {
        "diff_id": str(diff.id),
        "original_message": "change stuff",
        "refined_message": "feat: make the assistant talk like a pirate",
    }
    request = provider.requests[-1]
    sent = str(request["input"])
    assert "Use a conventional commit prefix" in sent
    assert "change stuff" in sent
    assert "You are a pirate assistant." in sent

    stored = await Diff.objects.aget(pk=diff.id)
    assert stored.commit_message == "change stuff"
    assert stored.status == Diff.Status.EVALUATOR_APPROVED

    step = await ConversationMessage.objects.filter(session=session).alast()
    assert step is not None
    assert step.token_usage is not None and step.openai_response is not None
    print("stored step:", step.agent, step.token_usage)
    assert step.agent == "evaluator"
    assert step.diff_id == diff.id
    assert step.token_usage["prompt_tokens"] == 80
    assert step.token_usage["completion_tokens"] == 12
    assert step.openai_response["id"] == step.last_response_id


async def test_current_message_from_the_client_is_the_one_refined(api, provider, pending):
    _, _, diff = pending
    provider.script(json_output({"commit_message": "Make the assistant a pirate"}, match="structured"))
    status, body = await refine(api, diff.id, {"current_message": "pirate things"})
    assert status == 200
    assert body["original_message"] == "pirate things"
    assert "pirate things" in str(provider.requests[-1]["input"])


async def test_refine_of_an_approved_diff_works_and_of_committed_one_is_409(api, provider, pending):
    _, _, diff = pending
    await sync_to_async(services.diff_approve)(diff=diff)
    provider.script(json_output({"commit_message": "Make the assistant a pirate"}, match="structured"))
    assert (await refine(api, diff.id))[0] == 200
    await sync_to_async(services.diff_commit)(diff=diff)
    status, body = await refine(api, diff.id)
    assert status == 409
    assert "committed" in body["detail"]


async def test_provider_failure_is_502(api, provider, pending):
    _, _, diff = pending
    provider.script(error(500, "upstream broke"))
    status, body = await refine(api, diff.id)
    assert status == 502
    assert "500" in body["detail"]
    assert "refining the commit message" in body["detail"]


async def test_no_key_is_503(api, no_provider, pending):
    _, _, diff = pending
    status, body = await refine(api, diff.id)
    assert status == 503
    assert "OPENAI_API_KEY" in body["detail"]


async def test_unknown_diff_is_404(api, provider):
    status, _ = await refine(api, uuid.uuid4())
    assert status == 404


async def test_bad_body_is_400(api, provider, pending):
    _, _, diff = pending
    status, body = await refine(api, diff.id, {"prompt": ["not", "text"]})
    assert status == 400
    assert "prompt" in body["errors"]


@pytest.mark.parametrize("value", NOT_STRINGS)
@pytest.mark.parametrize("field", ["prompt", "current_message"])
async def test_prompt_or_current_message_that_is_not_a_string_is_400(api, provider, pending, field, value):
    _, _, diff = pending
    status, body = await refine(api, diff.id, {field: value})
    assert status == 400
    assert body["errors"][field] == ["Not a valid string."]
    assert provider.requests == []
