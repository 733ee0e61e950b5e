"""The service's openai client reads streamed events exactly as the stock client does."""

import pytest
from openai import AsyncOpenAI
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseTextDeltaEvent,
)
from pydantic import BaseModel

from model_double.responses import (
    function_call_item,
    message_item,
    reasoning_item,
    refusal_item,
    response_object,
    sse_frame,
    stream_events,
)
from model_double.script import raw
from sessions.vibecoder.provider import StreamingClient

CREATED = {
    "type": "response.created",
    "sequence_number": 0,
    "response": response_object({"model": "gpt-5-mini"}, [], None) | {"status": "in_progress", "usage": None},
}


def _stream(*events: dict) -> str:
    return b"".join(sse_frame(event) for event in events).decode() + "data: [DONE]\n\n"


def _answer(*items: dict) -> str:
    return _stream(*stream_events(response_object({"model": "gpt-5-mini"}, list(items), (120, 40))))


async def _read(client: AsyncOpenAI) -> list:
    stream = await client.responses.create(model="gpt-5-mini", input="change it", stream=True)
    return [event async for event in stream]


async def _both(model_double, body: str) -> tuple[list, list]:
    """The same bytes, read by the service's client and by the stock one."""
    model_double.script(raw(body, content_type="text/event-stream"), raw(body, content_type="text/event-stream"))
    ours = StreamingClient(base_url=model_double.base_url, api_key="test", max_retries=0)
    stock = AsyncOpenAI(base_url=model_double.base_url, api_key="test", max_retries=0)
    return await _read(ours), await _read(stock)


def _tree(value):
    """A value with the class of every model in it, nested ones included."""
    if isinstance(value, BaseModel):
        fields = {
            **{name: getattr(value, name, None) for name in type(value).model_fields},
            **(value.model_extra or {}),
        }
        return type(value), {name: _tree(field) for name, field in fields.items()}
    if isinstance(value, list):
        return [_tree(item) for item in value]
    if isinstance(value, dict):
        return {key: _tree(item) for key, item in value.items()}
    return value


def _shapes(events: list) -> list:
    return [_tree(event) for event in events]


@pytest.mark.parametrize(
    "items",
    [
        (
            reasoning_item("The triage agent needs a comment."),
            message_item("Here is the patch."),
            function_call_item("submit_patch", '{"patch": "' + "x" * 300 + '"}'),
        ),
        (refusal_item("No."),),
    ],
    ids=["reasoning-text-call", "refusal"],
)
async def test_every_streamed_event_is_the_same_object_as_the_stock_client_reads(model_double, items):
    ours, stock = await _both(model_double, _answer(*items))

    assert len(ours) > 5
    assert _shapes(ours) == _shapes(stock)
    assert isinstance(ours[-1], ResponseCompletedEvent)


async def test_deltas_are_read_as_their_own_event_classes(model_double):
    ours, _ = await _both(
        model_double,
        _answer(reasoning_item("Think."), message_item("Hi there."), function_call_item("submit_patch", "{}")),
    )

    kinds = {type(event) for event in ours}

    assert {
        ResponseTextDeltaEvent,
        ResponseReasoningSummaryTextDeltaEvent,
        ResponseFunctionCallArgumentsDeltaEvent,
    } <= kinds


async def test_an_event_that_does_not_fit_its_class_or_of_an_unknown_type_is_read_as_the_stock_client_reads_it(
    model_double,
):
    body = _stream(
        CREATED,
        {"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_1", "output_index": 0},  # no delta
        {"type": "response.something_new", "sequence_number": 2, "detail": 7},
    )

    ours, stock = await _both(model_double, body)

    assert _shapes(ours) == _shapes(stock)
    assert [event.type for event in ours] == [
        "response.created",
        "response.output_text.delta",
        "response.something_new",
    ]
