"""The model provider: OpenAI clients configured from settings, and the raw responses they receive."""

import asyncio
import json
import weakref
from collections import OrderedDict

import httpx2
import openai
from agents import set_tracing_disabled
from agents.models.openai_provider import OpenAIProvider
from django.conf import settings
from openai import APIResponseValidationError, AsyncOpenAI, DefaultAsyncHttpxClient

from vibegrapher.errors import ProviderNotConfigured

NOT_CONFIGURED = (
    "Vibecoding is unavailable: OPENAI_API_KEY is not set. Set OPENAI_API_KEY (and OPENAI_BASE_URL for a "
    "Responses-compatible server other than OpenAI) in the environment or .env, then restart."
)
_RAW_KEEP = 2000

# Response JSON exactly as the API sent it, by response id, until the run records it.
_raw_responses: OrderedDict[str, dict] = OrderedDict()
# One client per event loop: connection pools belong to the loop that opened them.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, AsyncOpenAI]]" = (
    weakref.WeakKeyDictionary()
)


def provider_configured() -> bool:
    return bool(settings.OPENAI_API_KEY)


def provider_status() -> str:
    return "available" if provider_configured() else "unavailable: OPENAI_API_KEY is not set"


def provider_require() -> None:
    if not provider_configured():
        raise ProviderNotConfigured(NOT_CONFIGURED)


async def _keep_raw_response(response: httpx2.Response) -> None:
    if response.status_code != 200 or not response.request.url.path.endswith("/responses"):
        return
    if "text/event-stream" in response.headers.get("content-type", ""):
        return
    await response.aread()
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        # The openai client would let a bare JSONDecodeError escape; an APIError it passes on as-is
        # (no retry), and callers already report those as a provider failure.
        raise APIResponseValidationError(
            response, response.text[:500], message=f"the body is not valid JSON ({exc})"
        ) from exc
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        _raw_responses[body["id"]] = body
        while len(_raw_responses) > _RAW_KEEP:
            _raw_responses.popitem(last=False)


def raw_response_pop(response_id: str | None) -> dict | None:
    return _raw_responses.pop(response_id, None) if response_id else None


def openai_client() -> AsyncOpenAI:
    provider_require()
    set_tracing_disabled(not settings.OPENAI_TRACING)
    key = (settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_TIMEOUT_S, settings.OPENAI_MAX_RETRIES)
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if key not in per_loop:
        per_loop[key] = AsyncOpenAI(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL or None,
            timeout=settings.OPENAI_TIMEOUT_S,
            max_retries=settings.OPENAI_MAX_RETRIES,
            http_client=DefaultAsyncHttpxClient(event_hooks={"response": [_keep_raw_response]}),
        )
    return per_loop[key]


def model_provider() -> OpenAIProvider:
    return OpenAIProvider(openai_client=openai_client(), use_responses=True)


def provider_error_text(exc: BaseException, *, task: str = "") -> str:
    """A sentence for the user saying how the model provider failed; `task` says during what."""
    from agents import ModelBehaviorError

    during = f" while {task}" if task else ""
    if isinstance(exc, openai.APIStatusError):
        return f"The model provider answered {exc.status_code} ({type(exc).__name__}){during}: {exc.message}"
    if isinstance(exc, openai.APIResponseValidationError):
        return f"The model provider sent an answer that could not be read{during}: {exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return f"The model provider did not answer within {settings.OPENAI_TIMEOUT_S:g} s{during}."
    if isinstance(exc, openai.APIConnectionError):
        # The client's own message is a bare "Connection error."; the cause says what happened.
        return f"The connection to the model provider failed{during}: {exc.__cause__ or exc}"
    if isinstance(exc, ModelBehaviorError):
        return f"The model's answer could not be used{during}: {exc}"
    return f"The model provider failed ({type(exc).__name__}){during}: {exc}"
