"""The playground's relay: the only way a workflow running in the sandbox reaches the model provider.

The sandbox has no network and no secrets. For each playground run the service opens a Unix socket in
a private temporary directory, which the sandbox sees as ``relay/relay.sock`` in its work directory,
and serves a small HTTP server (aiohttp) on it:

- ``POST /v1/responses`` (JSON or streamed) is forwarded to the configured provider with the real key,
  the model the settings allow (``PLAYGROUND_MODEL``, whatever the workflow asked for) and within the
  run's token budget (``PLAYGROUND_TOKEN_BUDGET``: once used up, the child gets a 400 error answer).
  Each call is logged as the vibecoder's are (``OPENAI REQUEST`` / ``OPENAI RESPONSE`` /
  ``💵 OPENAI TOKENS``) and its usage is added to the run's totals.
- ``POST /_playground/step`` and ``POST /_playground/result``: the child reports the run's steps as
  they happen and its outcome at the end.

Everything else answers 404. The relay lives in the event loop of whoever runs the playground.
"""

import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
from aiohttp import web

from sessions.vibecoder.provider import _tls_context
from sessions.vibecoder.tokens import TokenTotals

logger = logging.getLogger(__name__)

SHARED_DIR_NAME = "relay"  # the directory's name in the sandbox's work directory
SOCKET_NAME = "relay.sock"
SANDBOX_SOCKET = f"{SHARED_DIR_NAME}/{SOCKET_NAME}"  # relative to the sandbox's work directory
MAX_BODY = 8 * 1024 * 1024
STEP_KINDS = ("message", "tool_call", "handoff")


def _error(status: int, message: str, kind: str) -> web.Response:
    """An answer the openai client in the sandbox reads as an API error with this message."""
    return web.json_response({"error": {"message": message, "type": kind, "code": kind}}, status=status)


def _usage(body: Any) -> dict[str, int] | None:
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None
    number = lambda value: value if isinstance(value, int) and value >= 0 else 0  # noqa: E731
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    prompt, completion = number(usage.get("input_tokens")), number(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": number(usage.get("total_tokens")) or prompt + completion,
        "cached_tokens": number(input_details.get("cached_tokens")) if isinstance(input_details, dict) else 0,
        "reasoning_tokens": number(output_details.get("reasoning_tokens")) if isinstance(output_details, dict) else 0,
    }


class _EventScanner:
    """Finds the final response object in a Responses API event stream as it passes through."""

    def __init__(self) -> None:
        self.partial = b""
        self.response: dict | None = None

    def feed(self, chunk: bytes) -> None:
        data = self.partial + chunk
        end = data.rfind(b"\n") + 1
        self.partial = data[end:]
        for line in data[:end].splitlines():
            if not line.startswith(b"data:") or b"response.completed" not in line:
                continue
            try:
                event = json.loads(line[5:])
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("type") == "response.completed":
                self.response = event.get("response") if isinstance(event.get("response"), dict) else None


class PlaygroundRelay:
    """One run's relay. ``async with PlaygroundRelay(...) as relay:`` then share ``relay.shared_dir``."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        token_budget: int,
        timeout_s: float,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.base_url = (base_url or "https://api.openai.com/v1").rstrip("/")
        self.api_key, self.model, self.token_budget, self.timeout_s = api_key, model, token_budget, timeout_s
        self.on_step = on_step
        self.totals = TokenTotals()
        self.steps: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None
        self.budget_exceeded = False
        self._private: str | None = None
        self._runner: web.AppRunner | None = None
        self._client: httpx2.AsyncClient | None = None

    @property
    def shared_dir(self) -> str:
        assert self._private is not None, "the relay is not started"
        return os.path.join(self._private, SHARED_DIR_NAME)

    async def __aenter__(self) -> "PlaygroundRelay":
        # The parent is 0700 (no other host user reaches the socket); the sandbox sees only the child
        # directory, open to the sandbox's per-run uid.
        self._private = tempfile.mkdtemp(prefix="vg-relay-")
        shared = Path(self.shared_dir)
        shared.mkdir()
        shared.chmod(0o777)
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/_playground/step", self._step)
        app.router.add_post("/_playground/result", self._result)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._client = httpx2.AsyncClient(timeout=self.timeout_s, verify=_tls_context())
        # The sandbox is gone when the relay closes: a model call still in flight is cancelled, not awaited.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        socket_path = str(shared / SOCKET_NAME)
        await web.UnixSite(self._runner, socket_path).start()
        os.chmod(socket_path, stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.aclose()
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)

    # --- The child's reports -----------------------------------------------------------------

    async def _step(self, request: web.Request) -> web.Response:
        step = await request.json()
        if not (isinstance(step, dict) and step.get("kind") in STEP_KINDS and isinstance(step.get("agent"), str)):
            return _error(400, "A step is {agent, kind: message|tool_call|handoff, ...}.", "invalid_step")
        step = {**step, "index": len(self.steps)}
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)
        return web.json_response({"ok": True})

    async def _result(self, request: web.Request) -> web.Response:
        result = await request.json()
        if not isinstance(result, dict):
            return _error(400, "A result is a JSON object.", "invalid_result")
        self.result = result
        return web.json_response({"ok": True})

    async def _unknown(self, request: web.Request) -> web.Response:
        return _error(
            404,
            f"The playground relay forwards only POST /v1/responses, not {request.method} {request.path}.",
            "not_found",
        )

    # --- Model calls ---------------------------------------------------------------------------

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "The request body is not JSON.", "invalid_request")
        if not isinstance(body, dict):
            return _error(400, "The request body is not a JSON object.", "invalid_request")
        if self.totals.total_tokens >= self.token_budget:
            self.budget_exceeded = True
            logger.warning("playground relay: token budget of %d used up; call refused", self.token_budget)
            return _error(
                400,
                f"The playground's token budget of {self.token_budget} tokens is used up "
                f"({self.totals.total_tokens} used).",
                "token_budget_exceeded",
            )
        asked = body.get("model")
        body["model"] = self.model
        streamed = body.get("stream") is True
        given = body.get("input")
        last = given[-1] if isinstance(given, list) and given else given
        preview = last.get("content") if isinstance(last, dict) else last
        logger.info(
            "OPENAI REQUEST: agent=playground model=%s (asked %s) stream=%s input=%s...",
            self.model,
            asked,
            streamed,
            (preview if isinstance(preview, str) else json.dumps(preview, default=str))[:200],
        )
        assert self._client is not None
        upstream = self._client.build_request(
            "POST",
            f"{self.base_url}/responses",
            content=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Accept": "text/event-stream" if streamed else "application/json",
            },
        )
        try:
            answer = await self._client.send(upstream, stream=True)
        except httpx2.HTTPError as exc:
            logger.error("playground relay: the model provider could not be reached: %r", exc)
            return _error(502, f"The model provider could not be reached: {exc!r}", "provider_unreachable")
        try:
            content_type = answer.headers.get("content-type", "application/json")
            if answer.status_code != 200 or "text/event-stream" not in content_type:
                data = await answer.aread()
                parsed: Any = None
                try:
                    parsed = json.loads(data)
                except ValueError:
                    pass
                self._count(answer.status_code, parsed)
                return web.Response(body=data, status=answer.status_code, content_type=content_type.split(";")[0])
            relayed = web.StreamResponse(status=200, headers={"Content-Type": content_type})
            await relayed.prepare(request)
            scanner = _EventScanner()
            async for chunk in answer.aiter_raw():
                scanner.feed(chunk)
                await relayed.write(chunk)
            await relayed.write_eof()
            self._count(200, scanner.response)
            return relayed
        finally:
            await answer.aclose()

    def _count(self, status: int, body: Any) -> None:
        if status != 200:
            message = body.get("error", {}).get("message") if isinstance(body, dict) else None
            logger.warning("OPENAI RESPONSE: agent=playground status=%s error=%s", status, str(message)[:300])
            return
        usage = _usage(body)
        logger.info("OPENAI RESPONSE: agent=playground id=%s", body.get("id") if isinstance(body, dict) else None)
        if usage is None:
            return
        logger.info(
            "💵 OPENAI TOKENS: prompt=%s, completion=%s, total=%s",
            usage["prompt_tokens"],
            usage["completion_tokens"],
            usage["total_tokens"],
        )
        self.totals.add(usage)
