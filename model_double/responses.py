"""Builders for Responses API objects and their SSE event sequence.

The shapes follow ``openai.types.responses`` (openai 3.57) as parsed by the openai client and
the openai-agents SDK: a ``Response`` object plus the streaming events
``response.created`` / ``response.in_progress`` / ``response.output_item.added`` /
``response.content_part.added`` / ``response.output_text.delta`` / ``response.output_text.done``
(``response.refusal.delta`` / ``response.refusal.done`` for a refusal part)
/ ``response.content_part.done`` / ``response.function_call_arguments.delta`` /
``response.function_call_arguments.done`` / ``response.output_item.done`` /
``response.completed``, each with a ``sequence_number``.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from .script import normalize_usage

DEFAULT_MODEL = "gpt-model-double"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _message(part: dict[str, Any]) -> dict[str, Any]:
    return {"id": new_id("msg"), "type": "message", "role": "assistant", "status": "completed", "content": [part]}


def message_item(text: str) -> dict[str, Any]:
    return _message({"type": "output_text", "text": text, "annotations": [], "logprobs": []})


def refusal_item(refusal: str) -> dict[str, Any]:
    return _message({"type": "refusal", "refusal": refusal})


def function_call_item(name: str, arguments: str, call_id: str | None = None) -> dict[str, Any]:
    return {
        "id": new_id("fc"),
        "type": "function_call",
        "call_id": call_id or new_id("call"),
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def reasoning_item(summary: str) -> dict[str, Any]:
    return {
        "id": new_id("rs"),
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": summary}],
        "status": "completed",
    }


def usage_object(usage: Iterable[int] | None) -> dict[str, Any]:
    input_tokens, output_tokens, cached, reasoning = normalize_usage(usage)
    return {
        "input_tokens": input_tokens,
        # `cache_write_tokens` is a required field of InputTokensDetails in openai 3.x.
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(
    request: dict[str, Any], output: list[dict[str, Any]], usage: Iterable[int] | None
) -> dict[str, Any]:
    """A completed ``Response`` echoing the request's settings."""
    now = int(time.time())
    text_config = request.get("text")
    if not isinstance(text_config, dict) or not text_config.get("format"):
        text_config = {
            "format": {"type": "text"},
            **(text_config if isinstance(text_config, dict) else {}),
        }
    tools = request.get("tools")
    return {
        "id": new_id("resp"),
        "object": "response",
        "created_at": now,
        "status": "completed",
        "completed_at": now,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "metadata": request.get("metadata") or {},
        "model": request.get("model") or DEFAULT_MODEL,
        "output": output,
        "parallel_tool_calls": bool(request.get("parallel_tool_calls", True)),
        "previous_response_id": request.get("previous_response_id"),
        "prompt_cache_key": request.get("prompt_cache_key"),
        "reasoning": request.get("reasoning") or {"effort": None, "summary": None},
        "safety_identifier": request.get("safety_identifier"),
        "service_tier": "default",
        "store": bool(request.get("store", True)),
        "temperature": request.get("temperature", 1.0),
        "text": text_config,
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": tools if isinstance(tools, list) else [],
        "top_logprobs": request.get("top_logprobs", 0),
        "top_p": request.get("top_p", 1.0),
        "truncation": request.get("truncation") or "disabled",
        "usage": usage_object(usage),
        "user": request.get("user"),
    }


def _chunks(text: str, size: int) -> list[str]:
    if not text:
        return [""]
    return [text[i : i + size] for i in range(0, len(text), size)]


def _in_progress_item(item: dict[str, Any]) -> dict[str, Any]:
    item = copy.deepcopy(item)
    item["status"] = "in_progress"
    if item["type"] == "message":
        item["content"] = []
    elif item["type"] == "function_call":
        item["arguments"] = ""
    elif item["type"] == "reasoning":
        item["summary"] = []
    return item


def stream_events(response: dict[str, Any], *, chunk_size: int = 24) -> list[dict[str, Any]]:
    """The SSE event payloads for ``response`` (each with ``type`` and ``sequence_number``)."""
    events: list[dict[str, Any]] = []

    def add(event: dict[str, Any]) -> None:
        event["sequence_number"] = len(events)
        events.append(event)

    in_progress = copy.deepcopy(response)
    in_progress.update(status="in_progress", output=[], usage=None, completed_at=None)
    add({"type": "response.created", "response": copy.deepcopy(in_progress)})
    add({"type": "response.in_progress", "response": in_progress})

    for output_index, item in enumerate(response["output"]):
        add(
            {
                "type": "response.output_item.added",
                "output_index": output_index,
                "item": _in_progress_item(item),
            }
        )
        if item["type"] == "message":
            for content_index, part in enumerate(item["content"]):
                common = {
                    "item_id": item["id"],
                    "output_index": output_index,
                    "content_index": content_index,
                }
                if part.get("type") == "refusal":
                    add({"type": "response.content_part.added", **common, "part": {"type": "refusal", "refusal": ""}})
                    for delta in _chunks(part["refusal"], chunk_size):
                        add({"type": "response.refusal.delta", **common, "delta": delta})
                    add({"type": "response.refusal.done", **common, "refusal": part["refusal"]})
                else:
                    add(
                        {
                            "type": "response.content_part.added",
                            **common,
                            "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                        }
                    )
                    for delta in _chunks(part["text"], chunk_size):
                        add({"type": "response.output_text.delta", **common, "delta": delta, "logprobs": []})
                    add({"type": "response.output_text.done", **common, "text": part["text"], "logprobs": []})
                add(
                    {
                        "type": "response.content_part.done",
                        **common,
                        "part": copy.deepcopy(part),
                    }
                )
        elif item["type"] == "function_call":
            common = {"item_id": item["id"], "output_index": output_index}
            for delta in _chunks(item["arguments"], chunk_size * 4):
                add(
                    {
                        "type": "response.function_call_arguments.delta",
                        **common,
                        "delta": delta,
                    }
                )
            add(
                {
                    "type": "response.function_call_arguments.done",
                    **common,
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            )
        elif item["type"] == "reasoning":
            for summary_index, summary in enumerate(item["summary"]):
                common = {
                    "item_id": item["id"],
                    "output_index": output_index,
                    "summary_index": summary_index,
                }
                add(
                    {
                        "type": "response.reasoning_summary_part.added",
                        **common,
                        "part": {"type": "summary_text", "text": ""},
                    }
                )
                add(
                    {
                        "type": "response.reasoning_summary_text.delta",
                        **common,
                        "delta": summary["text"],
                    }
                )
                add(
                    {
                        "type": "response.reasoning_summary_text.done",
                        **common,
                        "text": summary["text"],
                    }
                )
                add(
                    {
                        "type": "response.reasoning_summary_part.done",
                        **common,
                        "part": copy.deepcopy(summary),
                    }
                )
        add(
            {
                "type": "response.output_item.done",
                "output_index": output_index,
                "item": copy.deepcopy(item),
            }
        )

    add({"type": "response.completed", "response": response})
    return events


def sse_frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def error_body(message: str, type_: str | None, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
