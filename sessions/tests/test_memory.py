"""Conversation memory is bounded: a long session's model requests stop growing at MEMORY_TOKEN_BUDGET,
while the newest turns and the current request are sent whole and every turn stays stored."""

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from model_double.behaviour import classify, input_items
from sessions.models import VibecodeSession
from sessions.vibecoder.memory import memory_bounded, memory_items, memory_tokens

pytestmark = pytest.mark.django_db(transaction=True)

TURNS = 24
BUDGET = 4_000  # tokens, about 16 KB: a few turns of 2 KB prompts and the starter code


def _prompt(turn: int) -> str:
    return f"Turn {turn}: " + " ".join(f"make the assistant mention fact {turn}.{n}" for n in range(60))


def _size(items: list[dict]) -> int:
    return len(json.dumps(items, ensure_ascii=False).encode())


def _user_texts(items: list[Any]) -> list[str]:
    texts = []
    for item in items:
        if item.get("role") == "user":
            content = item["content"]
            texts.append(content if isinstance(content, str) else " ".join(part.get("text", "") for part in content))
    return texts


async def _long_session(api, provider, session) -> list[tuple[dict, dict]]:
    """Runs TURNS vibecode requests; returns (vibecoder's first request, evaluator request) per turn."""
    per_turn = []
    for turn in range(TURNS):
        seen = len(provider.requests)
        response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": _prompt(turn)})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending_human_review", response.json()
        by_kind = [(classify(request), request) for request in provider.requests[seen:]]
        vibecoder = next(request for kind, request in by_kind if kind == "vibecoder")
        evaluator = next(request for kind, request in by_kind if kind == "evaluator")
        per_turn.append((vibecoder, evaluator))
    return per_turn


async def test_long_session_requests_stop_growing_at_the_budget(api, provider, session, settings):
    settings.MEMORY_TOKEN_BUDGET = BUDGET
    per_turn = await _long_session(api, provider, session)

    for agent, index in (("vibecoder", 0), ("evaluator", 1)):
        sizes = [(len(input_items(pair[index])), _size(input_items(pair[index]))) for pair in per_turn]
        print(agent, "items/bytes per request:", sizes)
        assert max(size for _, size in sizes) <= BUDGET * 4 * 1.05, sizes  # wire JSON differs a little
        assert sizes[-1][1] > BUDGET * 4 * 0.5, sizes  # what fits is still sent
        assert len({count for count, _ in sizes[TURNS // 2 :]}) <= 2, sizes

    for turn, (vibecoder, evaluator) in enumerate(per_turn[1:], start=1):
        sent = input_items(vibecoder)
        texts = _user_texts(sent)
        # The current request, whole: the prompt and the current code.
        assert _prompt(turn) in texts[-1]
        assert "```python" in texts[-1] and "Agent(" in texts[-1]
        # The newest earlier turn, whole: its request, the tool call with its output, the answer.
        assert _prompt(turn - 1) in texts[-2]
        earlier = sent[: next(i for i, item in enumerate(sent) if _prompt(turn) in json.dumps(item))]
        assert earlier[0].get("role") == "user"  # no turn cut in its middle
        calls = {item["call_id"] for item in earlier if item.get("type") == "function_call"}
        outputs = {item["call_id"] for item in earlier if item.get("type") == "function_call_output"}
        assert calls == outputs and calls
        assert _prompt(turn - 1) in _user_texts(input_items(evaluator))[-2]
    assert _prompt(0) not in json.dumps(input_items(per_turn[-1][0]))

    stored = await sync_to_async(VibecodeSession.objects.select_related("project").get)(id=session["id"])
    items = await sync_to_async(memory_items)(db_path=stored.conversations_db_path, key=stored.openai_session_key)
    stored_texts = _user_texts(items)
    assert len(stored_texts) == TURNS
    assert len({json.dumps(item, sort_keys=True) for item in items}) == len(items)  # nothing stored twice
    assert sum(item.get("type") == "function_call" for item in items) == TURNS
    assert all(_prompt(turn) in stored_texts[turn] for turn in range(TURNS))
    evaluator_items = await sync_to_async(memory_items)(
        db_path=stored.conversations_db_path, key=stored.evaluator_session_key
    )
    assert len(_user_texts(evaluator_items)) == TURNS


async def test_budget_zero_sends_the_whole_history(api, provider, session, settings):
    settings.MEMORY_TOKEN_BUDGET = 0
    per_turn = await _long_session(api, provider, session)
    counts = [len(input_items(vibecoder)) for vibecoder, _ in per_turn]
    print(
        "vibecoder items/bytes per request, no budget:",
        [(n, _size(input_items(v))) for n, (v, _) in zip(counts, per_turn, strict=True)],
    )
    assert counts == sorted(counts) and counts[-1] > counts[0] + TURNS
    assert _prompt(0) in json.dumps(input_items(per_turn[-1][0]))


def _user(text: str) -> Any:
    return {"role": "user", "content": text}


def _tool_turn(text: str, *, call: str) -> list[Any]:
    return [
        _user(text),
        {"type": "reasoning", "id": f"rs_{call}", "summary": []},
        {"type": "function_call", "call_id": call, "name": "submit_patch", "arguments": "{}"},
        {"type": "function_call_output", "call_id": call, "output": "Patch applied" + "." * 400},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done"}]},
    ]


def test_keeps_whole_newest_turns_that_fit():
    old, middle, newest = _tool_turn("old", call="a"), _tool_turn("middle", call="b"), _tool_turn("newest", call="c")
    request = [_user("now")]
    budget = memory_tokens(middle + newest + request)
    assert memory_bounded(budget)(old + middle + newest, request) == middle + newest + request
    # One token short of the middle turn: the middle turn goes whole, none of its items is sent.
    assert memory_bounded(budget - 1)(old + middle + newest, request) == newest + request


def test_the_request_is_sent_whole_even_over_the_budget():
    request = [_user("x" * 10_000)]
    assert memory_bounded(100)(_tool_turn("old", call="a"), request) == request


def test_a_turn_over_the_budget_is_not_cut_and_older_turns_do_not_jump_it():
    small, big = _tool_turn("small", call="a"), [_user("y" * 8_000), *_tool_turn("", call="b")[1:]]
    assert memory_bounded(1_000)(small + big, [_user("now")]) == [_user("now")]


def test_items_before_the_first_user_item_are_never_sent():
    headless = _tool_turn("cut", call="a")[2:]
    assert memory_bounded(10_000)(headless + _tool_turn("whole", call="b"), []) == _tool_turn("whole", call="b")


def test_budget_zero_is_no_limit():
    history = _tool_turn("old", call="a")
    assert memory_bounded(0)(history, [_user("now")]) == history + [_user("now")]
