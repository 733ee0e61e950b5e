"""The model provider: OpenAI clients configured from settings, and the raw responses they receive."""

import asyncio
import functools
import json
import re
import ssl
import typing
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import httpx2
import openai
import pydantic
from agents import ModelBehaviorError, ModelRefusalError, set_tracing_disabled
from agents.models.openai_provider import OpenAIProvider
from django.conf import settings
from openai import APIResponseValidationError, AsyncOpenAI, DefaultAsyncHttpxClient
from openai.types.responses import ResponseStreamEvent

from vibegrapher.errors import ProviderNotConfigured

NOT_CONFIGURED = (
    "Vibecoding is unavailable: OPENAI_API_KEY is not set. Set OPENAI_API_KEY (and OPENAI_BASE_URL for a "
    "Responses-compatible server other than OpenAI) in the environment or .env, then restart."
)
_RAW_KEEP = 2000

# Response JSON exactly as the API sent it, by response id, until the run records it.
_raw_responses: OrderedDict[str, dict] = OrderedDict()
# One client per event loop: connection pools belong to the loop that opened them.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, AsyncOpenAI]]" = weakref.WeakKeyDictionary()


def provider_configured() -> bool:
    return bool(settings.OPENAI_API_KEY)


def provider_status() -> str:
    return "available" if provider_configured() else "unavailable: OPENAI_API_KEY is not set"


def provider_require() -> None:
    if not provider_configured():
        raise ProviderNotConfigured(NOT_CONFIGURED)


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


async def _keep_raw_response(response: httpx2.Response) -> None:
    """Keep each Responses API answer as sent, for `openai_response`; refuse, as the openai client's own
    `APIResponseValidationError` (a provider failure, not retried), a 200 that is no response object:
    the SDK would fail on it later with an error that names neither the provider nor the answer."""
    if response.status_code != 200 or not response.request.url.path.endswith("/responses"):
        return
    if "text/event-stream" in response.headers.get("content-type", ""):
        if _asked_to_stream(response.request):
            response.stream = _CheckedEventStream(response)
            return
        raise APIResponseValidationError(
            response, None, message="it sent an event stream to a request that did not ask for one"
        )
    await response.aread()
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        # The openai client would let a bare JSONDecodeError escape; an APIError it passes on as-is
        # (no retry), and callers already report those as a provider failure.
        raise APIResponseValidationError(
            response, response.text[:500], message=f"the body is not valid JSON ({exc})"
        ) from exc
    problem = _response_problem(body)
    if problem is None and _ESCAPED_SURROGATE.search(response.content):
        problem = _unencodable_text(body)
    if problem is None and _asked_to_stream(response.request):
        problem = "it answered a request for an event stream with a JSON body"
    if problem is not None:
        raise APIResponseValidationError(response, body, message=problem)
    _raw_responses[body["id"]] = body
    while len(_raw_responses) > _RAW_KEEP:
        _raw_responses.popitem(last=False)


class _CheckedEventStream(httpx2.AsyncByteStream):
    """An answer's event stream, refusing (as `_keep_raw_response` refuses such a JSON answer) an event
    whose text holds a lone UTF-16 surrogate, before the client parses it: the SDK would fail on it
    with an error that names neither the provider nor the answer. Only lines that hold a surrogate
    escape at all are parsed here."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response, self.inner = response, response.stream
        self.partial = b""  # the end of the last chunk after its last line break

    async def __aiter__(self):
        async for chunk in self.inner:  # type: ignore[union-attr]
            data = self.partial + chunk if self.partial else chunk
            end = data.rfind(b"\n") + 1
            self.partial = data[end:]
            if _ESCAPED_SURROGATE.search(data, 0, end):
                self._check(data[:end])
            yield chunk

    def _check(self, lines: bytes) -> None:
        for line in lines.splitlines():
            if not (line.startswith(b"data:") and _ESCAPED_SURROGATE.search(line)):
                continue
            try:
                event = json.loads(line[5:])
            except ValueError:
                continue  # the client reports an event that is no JSON
            problem = _unencodable_text(event)
            if problem is not None:
                raise APIResponseValidationError(self.response, event, message=problem)

    async def aclose(self) -> None:
        await self.inner.aclose()  # type: ignore[union-attr]


def stream_decode_error(exc: BaseException) -> ModelBehaviorError | None:
    """The provider failure behind a JSONDecodeError that the openai client let escape as is while it
    parsed an answer's event stream (an event whose data is no JSON); None for one raised elsewhere."""
    if not isinstance(exc, json.JSONDecodeError):
        return None
    trace = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_globals.get("__name__") == "openai._streaming":
            return ModelBehaviorError(f"the model provider sent an event that is not valid JSON ({exc})")
        trace = trace.tb_next
    return None


def _asked_to_stream(request: httpx2.Request) -> bool:
    try:
        return json.loads(request.content).get("stream") is True
    except (ValueError, AttributeError):  # not a JSON object: not a request this client made to stream
        return False


def _response_problem(body: object) -> str | None:
    if not isinstance(body, dict):
        return f"the body is a JSON {type(body).__name__}, not a response object"
    error = body.get("error")
    if isinstance(error, dict) and error.get("message") and not isinstance(body.get("output"), list):
        return f"it answered 200 with an error: {str(error['message'])[:300]}"
    if not isinstance(body.get("id"), str):
        return 'the response object has no "id"'
    if not isinstance(body.get("output"), list):
        return 'the response object has no "output" list'
    return None


def _unencodable_text(value: object) -> str | None:
    """A lone UTF-16 surrogate (sent as a `\\udXXX` escape) is no text: it cannot be stored or sent on."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "its text holds a lone UTF-16 surrogate, which is not valid Unicode"
        return None
    children = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    if isinstance(value, dict) and value.get("type") == "function_call" and isinstance(value.get("arguments"), str):
        try:  # the arguments are JSON in a string: the surrogate appears once the SDK decodes them
            children.append(json.loads(value["arguments"]))
        except ValueError:
            pass  # not JSON: the tool tells the model so
    for child in children:
        problem = _unencodable_text(child)
        if problem is not None:
            return problem
    return None


def raw_response_pop(response_id: str | None) -> dict | None:
    return _raw_responses.pop(response_id, None) if response_id else None


def _event_classes() -> dict[str, type[pydantic.BaseModel]]:
    """Each Responses stream event class by its `type`, for the types that name exactly one class."""
    union = typing.get_args(ResponseStreamEvent)[0]  # Annotated[Union[...], discriminator]
    classes: dict[str, list[type[pydantic.BaseModel]]] = {}
    for event_class in typing.get_args(union):
        for name in typing.get_args(event_class.model_fields["type"].annotation):
            classes.setdefault(name, []).append(event_class)
    return {name: found[0] for name, found in classes.items() if len(found) == 1}


_EVENT_CLASSES = _event_classes()


class StreamingClient(AsyncOpenAI):
    """The openai client, reading each streamed event as the one class its `type` names.

    The stock client validates every event against the union of all event classes (59 in openai 3.57), which
    costs about 55 us an event against 2 us for the class itself: a 1,000-delta patch spends 50 ms
    of CPU on it. Validating against the named class gives the same object. An event that does not
    validate as its class, or of a type the table does not know, takes the stock path (which then
    builds the closest class loosely), so nothing is read differently."""

    def _process_response_data(self, *, data, cast_to, response):
        if cast_to is ResponseStreamEvent and isinstance(data, dict):
            event_class = _EVENT_CLASSES.get(data.get("type"))  # type: ignore[arg-type]
            if event_class is not None:
                try:
                    return event_class.model_validate(data)
                except pydantic.ValidationError:
                    pass  # the stock path reads it loosely, or fails as the client always did
        return super()._process_response_data(data=data, cast_to=cast_to, response=response)


def openai_client() -> AsyncOpenAI:
    provider_require()
    set_tracing_disabled(not settings.OPENAI_TRACING)
    key = (settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_TIMEOUT_S, settings.OPENAI_MAX_RETRIES)
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if key not in per_loop:
        per_loop[key] = StreamingClient(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL or None,
            timeout=settings.OPENAI_TIMEOUT_S,
            max_retries=settings.OPENAI_MAX_RETRIES,
            http_client=DefaultAsyncHttpxClient(verify=_tls_context(), event_hooks={"response": [_keep_raw_response]}),
        )
    return per_loop[key]


# A Responses API answer with the parts a vibecode run gets back (reasoning, text, a function call,
# a JSON-schema text format), for `provider_warm_up`.
_WARM_UP_RESPONSE = {
    "id": "resp_warm_up",
    "object": "response",
    "created_at": 0,
    "status": "completed",
    "model": "warm-up",
    "output": [
        {"type": "reasoning", "id": "rs_warm_up", "summary": []},
        {
            "type": "message",
            "id": "msg_warm_up",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "{}", "annotations": []}],
        },
        {
            "type": "function_call",
            "id": "fc_warm_up",
            "call_id": "call_warm_up",
            "name": "submit_patch",
            "arguments": "{}",
            "status": "completed",
        },
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [{"type": "function", "name": "submit_patch", "parameters": {}, "strict": True}],
    "text": {"format": {"type": "json_schema", "name": "warm_up", "schema": {}, "strict": True}},
    "usage": {
        "input_tokens": 1,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 1,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 2,
    },
}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS settings httpx would make for each client (CA bundle, SSL_CERT_FILE), made once:
    loading the CA bundle is most of the cost of a new client."""
    return httpx2.create_ssl_context(trust_env=True)


async def _warm_up_client() -> None:
    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=_WARM_UP_RESPONSE))
    http_client = DefaultAsyncHttpxClient(transport=transport)
    async with AsyncOpenAI(api_key="warm-up", base_url="http://warm-up.invalid/v1", http_client=http_client) as client:
        await client.responses.create(model="warm-up", input="warm up")


def provider_warm_up() -> None:
    """Do once at start what a process's first model call would do mid-run: load the HTTP transport,
    the Responses resource and the tracing setup, and build the validators that read a response
    (0.7 s of a first run that otherwise takes 0.8 s instead of 0.1 s). The call goes to an in-memory
    transport, never to the network."""
    set_tracing_disabled(not settings.OPENAI_TRACING)
    _tls_context()
    # On a thread of its own: under uvicorn this runs while the server's event loop is running.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="provider-warm-up") as pool:
        pool.submit(asyncio.run, _warm_up_client()).result()


def model_provider() -> OpenAIProvider:
    return OpenAIProvider(openai_client=openai_client(), use_responses=True)


def provider_error_text(exc: BaseException, *, task: str = "") -> str:
    """A sentence for the user saying how the model provider failed; `task` says during what."""
    during = f" while {task}" if task else ""
    if isinstance(exc, openai.APIStatusError):
        return f"The model provider answered {exc.status_code} ({type(exc).__name__}){during}: {exc.message}"
    if isinstance(exc, openai.APIResponseValidationError):
        return f"The model provider sent an answer that could not be read{during}: {exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return f"The model provider did not answer within {settings.OPENAI_TIMEOUT_S:g} s{during}."
    if isinstance(exc, openai.APIConnectionError):
        # The client's own message is a bare "Connection error."; the cause says what happened, but a
        # connection reset or closed mid-answer has no text of its own.
        cause = exc.__cause__ or exc
        reason = str(cause) or f"{type(cause).__name__}, the connection was closed before the answer was complete"
        return f"The connection to the model provider failed{during}: {reason}"
    if isinstance(exc, ModelBehaviorError):
        return f"The model's answer could not be used{during}: {exc}"
    if isinstance(exc, ModelRefusalError):
        return f"The model refused{during}: {exc.refusal}"
    return f"The model provider failed ({type(exc).__name__}){during}: {exc}"
