"""Default (unscripted) behaviour of the model double, and request inspection helpers.

* **vibecoder** (request has a function tool ``submit_patch``):
  - last input item is the ``function_call_output`` of ``submit_patch``: a short text; if the
    output starts with "Patch applied" it reports success, otherwise it gives up;
  - the user's prompt ends with ``?``: a text answer;
  - otherwise: a ``submit_patch`` call whose unified diff appends ``# <prompt>`` (sanitised,
    one line) to the end of the code found in the last Python code block of the input;
  - no code block at all: a text answer saying so.
* **evaluator** (``text.format`` is a ``json_schema`` with an ``approved`` property):
  ``{"approved": true, "reasoning": ..., "commit_message": ...}`` (other schema properties
  are filled with placeholder values).
* **structured** (any other ``json_schema``): a placeholder value valid for the schema.
* **other**: a short text answer.

The code block is read leniently: the last block opened with ```` ```python ```` (or ``py``)
and closed by a ```` ``` ```` line. Trailing blank lines are ignored and the file is assumed
to end with exactly one newline; the patch is against ``a/workflow.py`` / ``b/workflow.py``
with 3 lines of context, so ``git apply`` / ``patch -p1`` accept it.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from . import responses

SUBMIT_PATCH = "submit_patch"
WORKFLOW_FILE = "workflow.py"


# ---------------------------------------------------------------------------- inspection


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                value = part.get("text")
                if value is None and part.get("type") == "refusal":
                    value = part.get("refusal")
                if isinstance(value, str):
                    parts.append(value)
        return "\n".join(parts)
    if isinstance(content, dict):
        return _content_text([content])
    return str(content)


def input_items(request: dict[str, Any]) -> list[dict[str, Any]]:
    raw = request.get("input")
    if raw is None:
        return []
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if isinstance(raw, list):
        return [item for item in raw if isinstance(item, dict)]
    return []


def _is_message(item: dict[str, Any]) -> bool:
    return "role" in item and item.get("type", "message") == "message"


def messages(request: dict[str, Any]) -> list[tuple[str, str]]:
    """``(role, text)`` of every message item in the request input, in order."""
    return [
        (str(item.get("role")), _content_text(item.get("content")))
        for item in input_items(request)
        if _is_message(item)
    ]


def last_user_text(request: dict[str, Any]) -> str:
    for role, text in reversed(messages(request)):
        if role == "user":
            return text
    return ""


def _schema(request: dict[str, Any]) -> dict[str, Any] | None:
    text_config = request.get("text")
    if not isinstance(text_config, dict):
        return None
    fmt = text_config.get("format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    schema = fmt.get("schema")
    return schema if isinstance(schema, dict) else {}


def tool_names(request: dict[str, Any]) -> list[str]:
    names = []
    for tool in request.get("tools") or []:
        if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("name"), str):
            names.append(tool["name"])
    return names


def classify(request: dict[str, Any]) -> str:
    """``"vibecoder"``, ``"evaluator"``, ``"structured"`` or ``"other"``."""
    if SUBMIT_PATCH in tool_names(request):
        return "vibecoder"
    schema = _schema(request)
    if schema is not None:
        return "evaluator" if '"approved"' in json.dumps(schema) else "structured"
    return "other"


_FENCE_STRICT = re.compile(
    r"^[ \t]*```[ \t]*(?:python3?|py)\b[^\n]*\n(.*?)^[ \t]*```[ \t]*$",
    re.DOTALL | re.MULTILINE | re.IGNORECASE,
)
_FENCE_LOOSE = re.compile(r"```[ \t]*(?:python3?|py)\b[^\n]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_ANY_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)


def find_python_code(request: dict[str, Any]) -> str | None:
    """The last Python code block of the input (searching messages from the last one back,
    then the instructions), normalised to end with exactly one newline; None if absent."""
    texts = [text for _, text in messages(request)]
    instructions = request.get("instructions")
    if isinstance(instructions, str):
        texts.insert(0, instructions)
    for text in reversed(texts):
        blocks = _FENCE_STRICT.findall(text) or _FENCE_LOOSE.findall(text)
        if blocks:
            return normalise_code(blocks[-1])
    return None


def normalise_code(code: str) -> str:
    lines = code.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


_PROMPT_LABEL = re.compile(
    r"^[ \t]*(?:[#*>\- ]*)(?:the\s+)?(?:user(?:'s)?\s+)?(?:prompt|request|instructions?|task|message|question)"
    r"\s*[:=][ \t]*(\S.*)$",
    re.IGNORECASE,
)


def _is_label_line(stripped: str) -> bool:
    """Markdown headings and short ``Something:`` lines (``Current code of workflow.py:``)."""
    return stripped.startswith("#") or (stripped.endswith(":") and len(stripped) <= 80)


def extract_prompt(user_text: str) -> str:
    """The user's prompt from the vibecoder's user message: the text outside code blocks, with
    heading/label lines (``## Current code``, ``workflow.py:``) dropped. A ``Prompt: ...`` /
    ``Request: ...`` line wins if present (with its continuation lines up to a blank line)."""
    lines = _ANY_FENCE.sub("\n", user_text).split("\n")
    labelled = [i for i, line in enumerate(lines) if _PROMPT_LABEL.match(line)]
    if labelled:
        start = labelled[-1]
        found = [_PROMPT_LABEL.match(lines[start]).group(1).strip()]  # type: ignore[union-attr]
        for line in lines[start + 1 :]:
            stripped = line.strip()
            if not stripped or _is_label_line(stripped) or _PROMPT_LABEL.match(line):
                break
            found.append(stripped)
        return "\n".join(found).strip()
    kept = []
    for line in lines:
        stripped = line.strip()
        if stripped and _is_label_line(stripped):
            continue
        kept.append(stripped)
    return "\n".join(kept).strip()


def user_prompt(request: dict[str, Any]) -> str:
    """The prompt of the last user message that has one (a message holding only the code
    block and its labels has none)."""
    for role, text in reversed(messages(request)):
        if role == "user":
            prompt = extract_prompt(text)
            if prompt:
                return prompt
    return ""


def sanitise_one_line(text: str, limit: int = 100) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text.replace("\n", " "))
    text = re.sub(r"\s+", " ", text).strip().lstrip("#").strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text


# ---------------------------------------------------------------------------- patch


def append_comment_patch(code: str, comment: str, filename: str = WORKFLOW_FILE) -> str:
    """A unified diff (3 lines of context) appending ``# comment`` to ``code``."""
    if code and not code.endswith("\n"):
        code += "\n"
    new_code = code + f"# {comment}\n"
    diff = difflib.unified_diff(
        code.splitlines(keepends=True),
        new_code.splitlines(keepends=True),
        fromfile=f"a/{filename}",
        tofile=f"b/{filename}",
        n=3,
    )
    return "".join(diff)


# ---------------------------------------------------------------------------- default replies


def _function_call_name(items: list[dict[str, Any]], call_id: Any) -> str | None:
    for item in reversed(items):
        if item.get("type") == "function_call" and item.get("call_id") == call_id:
            return item.get("name")
    return None


def _vibecoder(request: dict[str, Any]) -> list[dict[str, Any]]:
    items = input_items(request)
    last = items[-1] if items else {}
    if last.get("type") == "function_call_output":
        name = _function_call_name(items, last.get("call_id"))
        output = _content_text(last.get("output")).strip()
        if name in (None, SUBMIT_PATCH):
            if output.lower().startswith("patch applied"):
                return [responses.message_item("Done: I applied the change to workflow.py.")]
            first_line = sanitise_one_line(output.split("\n", 1)[0] if output else "no details", 200)
            return [
                responses.message_item(
                    f"Sorry, my patch could not be applied ({first_line}). "
                    "I am giving up on this request; please try rephrasing it."
                )
            ]
        return [responses.message_item(f"The tool {name} returned: {sanitise_one_line(output, 200)}")]

    prompt = user_prompt(request)
    if prompt.rstrip().endswith("?"):
        return [
            responses.message_item(
                f"You asked: {sanitise_one_line(prompt, 200)} "
                "This is the local model double, so here is a canned answer: the workflow in "
                "workflow.py defines the agents; ask me to change it and I will submit a patch."
            )
        ]
    code = find_python_code(request)
    if code is None:
        return [
            responses.message_item(
                "I could not find the current workflow.py code (a ```python block) in the request, "
                "so I cannot propose a patch."
            )
        ]
    comment = sanitise_one_line(prompt) or "vibecoded change"
    arguments = {
        "patch": append_comment_patch(code, comment),
        "description": sanitise_one_line(f"Add a comment recording the request: {comment}", 200),
    }
    return [responses.function_call_item(SUBMIT_PATCH, json.dumps(arguments))]


def _resolve_ref(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    if not ref.startswith("#/"):
        return {}
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node if isinstance(node, dict) else {}


def sample_from_schema(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A placeholder value valid for a (strict-mode style) JSON schema."""
    if not isinstance(schema, dict) or depth > 12:
        return None
    root = root if root is not None else schema
    if "$ref" in schema:
        return sample_from_schema(_resolve_ref(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return sample_from_schema((non_null or options)[0], root, depth + 1)
    if schema.get("allOf"):
        return sample_from_schema(schema["allOf"][0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: sample_from_schema(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = int(schema.get("minItems") or 0)
        return [sample_from_schema(schema.get("items") or {}, root, depth + 1) for _ in range(count)]
    if kind == "string":
        return "placeholder from the model double"
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return True
    return None


def _fill_evaluation(value: Any, commit_message: str) -> bool:
    """Set approved/reasoning/commit_message wherever the object holding them is."""
    if isinstance(value, dict):
        if "approved" in value:
            value["approved"] = True
            if "reasoning" in value:
                value["reasoning"] = (
                    "The change does what was asked and keeps workflow.py valid (model double default)."
                )
            if "commit_message" in value:
                value["commit_message"] = commit_message
            return True
        return any(_fill_evaluation(v, commit_message) for v in value.values())
    return False


def _evaluator_commit_message(request: dict[str, Any]) -> str:
    text = "\n".join(t for _, t in messages(request))
    match = re.search(r"^\+#\s*(.+)$", text, re.MULTILINE)  # the comment our default patch adds
    if match:
        subject = sanitise_one_line(match.group(1), 60)
    else:
        subject = sanitise_one_line(user_prompt(request), 60)
    return f"Vibecode: {subject}" if subject else "Apply requested change"


def default_output(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Output items for an unscripted request."""
    kind = classify(request)
    if kind == "vibecoder":
        return _vibecoder(request)
    if kind in ("evaluator", "structured"):
        schema = _schema(request) or {}
        value = sample_from_schema(schema)
        if kind == "evaluator":
            _fill_evaluation(value, _evaluator_commit_message(request))
        return [responses.message_item(json.dumps(value))]
    said = sanitise_one_line(last_user_text(request), 120)
    reply = "Hello! This is a canned reply from the local model double."
    if said:
        reply += f' You said: "{said}"'
    return [responses.message_item(reply)]
