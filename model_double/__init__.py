"""A local OpenAI-compatible Responses API server ("model double") for tests and offline use.

    from model_double import ModelDouble
    from model_double.script import text, patch, evaluation, error

    with ModelDouble() as double:            # 127.0.0.1, free port, background thread
        double.script(patch("--- a/workflow.py\\n..."), text("Done"))
        client = AsyncOpenAI(base_url=double.base_url, api_key="test")
        ...
        assert double.requests[0]["tools"][0]["name"] == "submit_patch"

Command line: ``python -m model_double --host 127.0.0.1 --port 8700 [--delay 0]``.
"""

from .behaviour import classify
from .script import (
    Step,
    cut_stream,
    default,
    error,
    evaluation,
    function_call,
    json_output,
    malformed,
    output_items,
    patch,
    raw,
    reply,
    step_from_dict,
    text,
)
from .server import ModelDouble, script_remote

__all__ = [
    "ModelDouble",
    "Step",
    "classify",
    "cut_stream",
    "default",
    "error",
    "evaluation",
    "function_call",
    "json_output",
    "malformed",
    "output_items",
    "patch",
    "raw",
    "reply",
    "script_remote",
    "step_from_dict",
    "text",
]
