"""Scripted replies for the model double.

Each builder returns a :class:`Step`. Steps are queued with ``ModelDouble.script(*steps)``
(or ``POST /_double/script`` with ``[step.to_dict(), ...]``) and consumed in FIFO order,
one per incoming ``/responses`` request. When the queue is empty the double answers with
its default behaviour (see ``model_double.behaviour``).

Every builder accepts:

* ``delay``: seconds to wait before answering. ``None`` (the default) means "use the
  double's ``default_delay``"; ``0`` means "answer at once" even if a default delay is set.
  A large delay simulates a hang (``ModelDouble.stop()`` wakes hung requests and drops them).
* ``match``: ``"vibecoder"`` / ``"evaluator"`` / ``"structured"`` / ``"other"``. When given and
  the request is a different kind, the double answers 500 (with ``x-should-retry: false``)
  and records the mismatch in ``ModelDouble.errors``.

``usage`` is ``(input_tokens, output_tokens)`` and may carry two more numbers:
``(input_tokens, output_tokens, cached_tokens, reasoning_tokens)``. Default: ``(100, 50)``.

Over HTTP a step is a JSON object whose ``kind`` names the builder and whose other keys are
the builder's arguments, e.g. ``{"kind": "text", "content": "hi", "usage": [10, 5]}``,
``{"kind": "patch", "patch_text": "...", "description": "..."}``,
``{"kind": "error", "status": 429, "retry_after": 1}``,
``{"kind": "reply", "items": [{"kind": "text", ...}, {"kind": "function_call", ...}]}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_USAGE",
    "MATCH_KINDS",
    "Step",
    "cut_stream",
    "default",
    "error",
    "evaluation",
    "function_call",
    "json_output",
    "malformed",
    "normalize_usage",
    "output_items",
    "patch",
    "raw",
    "reply",
    "step_from_dict",
    "steps_from_json",
    "text",
]

DEFAULT_USAGE: tuple[int, int] = (100, 50)
MATCH_KINDS = ("vibecoder", "evaluator", "structured", "other")

# Step kinds the server knows how to render.
_OUTPUT_KINDS = ("text", "function_call", "reply", "default", "output_items")
_ALL_KINDS = (*_OUTPUT_KINDS, "error", "malformed", "cut_stream", "raw")


@dataclass
class Step:
    """One scripted reply. Build it with the functions of this module."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    delay: float | None = None
    match: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _ALL_KINDS:
            raise ValueError(f"unknown step kind {self.kind!r}; expected one of {_ALL_KINDS}")
        if self.delay is not None:
            self.delay = float(self.delay)
            if self.delay < 0:
                raise ValueError("delay must be >= 0")
        if self.match is not None and self.match not in MATCH_KINDS:
            raise ValueError(f"match must be one of {MATCH_KINDS}, got {self.match!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible form accepted by :func:`step_from_dict` and ``/_double/script``."""
        data: dict[str, Any] = {"kind": self.kind}
        for key, value in self.params.items():
            if key == "items" and self.kind == "reply":
                value = [item.to_dict() for item in value]
            data[key] = value
        if self.delay is not None:
            data["delay"] = self.delay
        if self.match is not None:
            data["match"] = self.match
        return data


def normalize_usage(usage: Iterable[int] | None) -> list[int]:
    """Return ``[input, output, cached, reasoning]`` from a 2-4 element sequence (or None)."""
    if usage is None:
        usage = DEFAULT_USAGE
    if isinstance(usage, dict):
        values = [
            usage.get("input_tokens", usage.get("input", 0)),
            usage.get("output_tokens", usage.get("output", 0)),
            usage.get("cached_tokens", 0),
            usage.get("reasoning_tokens", 0),
        ]
    else:
        values = list(usage)
    if not 2 <= len(values) <= 4:
        raise ValueError("usage must be (input_tokens, output_tokens[, cached_tokens[, reasoning_tokens]])")
    numbers = [int(v) for v in values] + [0] * (4 - len(values))
    if any(n < 0 for n in numbers):
        raise ValueError("usage numbers must be >= 0")
    return numbers


def _usage_param(usage: Iterable[int] | None) -> list[int] | None:
    return None if usage is None else normalize_usage(usage)


def text(
    content: str,
    *,
    usage: Iterable[int] | None = None,
    reasoning: str | None = None,
    delay: float | None = None,
    match: str | None = None,
) -> Step:
    """An assistant message with one ``output_text`` part (optionally after a reasoning item)."""
    if not isinstance(content, str):
        raise TypeError("text content must be a str")
    return Step(
        "text",
        {"content": content, "usage": _usage_param(usage), "reasoning": reasoning},
        delay,
        match,
    )


def json_output(
    value: Any,
    *,
    usage: Iterable[int] | None = None,
    delay: float | None = None,
    match: str | None = None,
) -> Step:
    """Structured output: ``value`` serialised as JSON in an ``output_text`` message."""
    return text(json.dumps(value), usage=usage, delay=delay, match=match)


def function_call(
    name: str,
    arguments: dict[str, Any] | str | None = None,
    *,
    usage: Iterable[int] | None = None,
    call_id: str | None = None,
    reasoning: str | None = None,
    delay: float | None = None,
    match: str | None = None,
) -> Step:
    """A ``function_call`` output item. ``arguments`` may be a dict or a raw JSON string."""
    if arguments is None:
        arguments = {}
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Step(
        "function_call",
        {
            "name": name,
            "arguments": raw,
            "call_id": call_id,
            "usage": _usage_param(usage),
            "reasoning": reasoning,
        },
        delay,
        match,
    )


def patch(
    patch_text: str,
    description: str = "Apply the requested change",
    *,
    usage: Iterable[int] | None = None,
    call_id: str | None = None,
    delay: float | None = None,
    match: str | None = None,
) -> Step:
    """A ``submit_patch`` call with ``{"patch": patch_text, "description": description}``."""
    return function_call(
        "submit_patch",
        {"patch": patch_text, "description": description},
        usage=usage,
        call_id=call_id,
        delay=delay,
        match=match,
    )


def evaluation(
    approved: bool,
    reasoning: str = "Looks good.",
    commit_message: str = "Apply requested change",
    *,
    usage: Iterable[int] | None = None,
    delay: float | None = None,
    match: str | None = None,
) -> Step:
    """The evaluator's structured answer ``{"approved", "reasoning", "commit_message"}``."""
    return json_output(
        {
            "approved": bool(approved),
            "reasoning": reasoning,
            "commit_message": commit_message,
        },
        usage=usage,
        delay=delay,
        match=match,
    )


def reply(
    *steps: Step,
    usage: Iterable[int] | None = None,
    delay: float | None = None,
    match: str | None = None,
) -> Step:
    """One response holding the output items of several ``text``/``function_call`` steps
    (e.g. a message followed by two parallel function calls). Their own usage/delay/match
    are ignored; ``usage`` applies to the combined response."""
    if not steps:
        raise ValueError("reply() needs at least one step")
    for step in steps:
        if step.kind not in ("text", "function_call"):
            raise ValueError("reply() only combines text/function_call steps")
    return Step("reply", {"items": list(steps), "usage": _usage_param(usage)}, delay, match)


def default(*, delay: float | None = None, match: str | None = None) -> Step:
    """Answer this request with the default (unscripted) behaviour, with an optional
    delay or match check."""
    return Step("default", {}, delay, match)


_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("server_error", "timeout"),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", "unprocessable_entity"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", "server_error"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "server_overloaded"),
    504: ("server_error", "timeout"),
}


def error(
    status: int,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    body: str | None = None,
    type: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    delay: float | None = None,
    match: str | None = None,
) -> Step:
    """An HTTP error with OpenAI's error JSON ``{"error": {"message", "type", "param", "code"}}``.

    ``retry_after`` adds a ``retry-after`` header (seconds, floats allowed; the openai client
    honours it when retrying). ``body`` replaces the JSON body with raw text (e.g. malformed).
    """
    status = int(status)
    if not 400 <= status <= 599:
        raise ValueError("error status must be 4xx or 5xx")
    default_type, default_code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return Step(
        "error",
        {
            "status": status,
            "message": message or f"Model double scripted error {status}",
            "retry_after": None if retry_after is None else float(retry_after),
            "body": body,
            "type": type or default_type,
            "code": code if code is not None else default_code,
            "headers": dict(headers or {}),
        },
        delay,
        match,
    )


def output_items(
    items: list[dict[str, Any]],
    *,
    usage: Iterable[int] | None = None,
    delay: float | None = None,
    match: str | None = None,
) -> Step:
    """A normal response whose ``output`` is exactly ``items`` (raw Responses API output items, e.g. a
    message with a ``refusal`` part, or an item type the client does not know)."""
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("output_items() needs a list of JSON objects")
    return Step("output_items", {"items": [dict(item) for item in items], "usage": _usage_param(usage)}, delay, match)


def raw(
    body: Any,
    *,
    status: int = 200,
    content_type: str = "application/json",
    delay: float | None = None,
    match: str | None = None,
) -> Step:
    """The whole HTTP answer as given: ``body`` (a string is sent as it is, anything else as JSON) with
    ``status`` and ``content_type``, e.g. a 200 whose JSON is not a response object."""
    status = int(status)
    if not 100 <= status <= 599:
        raise ValueError("status must be an HTTP status code")
    text_body = body if isinstance(body, str) else json.dumps(body)
    return Step("raw", {"body": text_body, "status": status, "content_type": str(content_type)}, delay, match)


def malformed(*, delay: float | None = None, match: str | None = None) -> Step:
    """200 with a body that is not valid JSON (for streaming: a broken SSE ``data:`` line)."""
    return Step("malformed", {}, delay, match)


def cut_stream(after_events: int = 2, *, delay: float | None = None, match: str | None = None) -> Step:
    """Close the connection abruptly. Streaming: after ``after_events`` SSE events (never
    reaching ``response.completed``). JSON: after half of the body (Content-Length promised
    the full body)."""
    after_events = int(after_events)
    if after_events < 0:
        raise ValueError("after_events must be >= 0")
    return Step("cut_stream", {"after_events": after_events}, delay, match)


_BUILDERS: dict[str, Callable[..., Step]] = {
    "text": text,
    "json": json_output,
    "json_output": json_output,
    "function_call": function_call,
    "patch": patch,
    "evaluation": evaluation,
    "default": default,
    "error": error,
    "malformed": malformed,
    "cut_stream": cut_stream,
    "output_items": output_items,
    "raw": raw,
}


def step_from_dict(data: dict[str, Any] | Step) -> Step:
    """Build a step from its JSON form (``{"kind": <builder name>, **builder kwargs}``)."""
    if isinstance(data, Step):
        return data
    if not isinstance(data, dict):
        raise TypeError(f"a step must be a JSON object, got {type(data).__name__}")
    data = dict(data)
    kind = data.pop("kind", None) or data.pop("type", None)
    if kind == "reply":
        items = data.pop("items", None)
        if not isinstance(items, list):
            raise ValueError("a reply step needs an 'items' list")
        return reply(*(step_from_dict(item) for item in items), **data)
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown step kind {kind!r}; expected one of {sorted([*_BUILDERS, 'reply'])}")
    try:
        return builder(**data)
    except TypeError as exc:
        raise ValueError(f"bad arguments for step {kind!r}: {exc}") from exc


def steps_from_json(payload: Any) -> list[Step]:
    """Accept a JSON list of steps, a single step object, or ``{"steps": [...]}``."""
    if isinstance(payload, dict) and "steps" in payload:
        payload = payload["steps"]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise TypeError("expected a JSON list of steps")
    return [step_from_dict(item) for item in payload]
