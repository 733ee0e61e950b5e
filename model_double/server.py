"""The HTTP server of the model double (stdlib ``ThreadingHTTPServer``, HTTP/1.1 keep-alive).

Endpoints:

* ``POST /v1/responses`` and ``POST /responses``: the Responses API (JSON, or SSE with chunked
  transfer encoding when the body has ``"stream": true``).
* ``GET /v1/models``: a one-model list.
* ``POST /_double/script``: queue steps (JSON list of ``{"kind": ..., ...}``; see ``script.py``).
* ``POST /_double/reset``: clear queued steps, recorded requests and errors.
* ``GET /_double/requests``: JSON list of the received request bodies.
* ``GET /_double/errors``: JSON list of test errors (``match`` mismatches).
* ``GET /_double/script``: JSON list of the steps still queued.
"""

from __future__ import annotations

import collections
import json
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

from . import behaviour, responses
from .script import Step, step_from_dict, steps_from_json

MAX_BODY = 64 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512
    double: ModelDouble

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind's socket.getfqdn(), which may do a slow reverse lookup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return  # clients hanging up (timeouts, cut streams) are expected here
        if self.double.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ModelDouble/1.0"
    timeout = 60  # idle keep-alive connections are dropped after a minute (httpx expires them at 5 s)
    sys_version = ""
    server: _Server

    # -------------------------------------------------------------- plumbing

    @property
    def double(self) -> ModelDouble:
        return self.server.double

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm holds the
        # body back until the client's delayed ACK (~40 ms), a delay no real API server has.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.double._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.double._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.double.verbose:
            sys.stderr.write(f"[model-double] {self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def _send_bytes(
        self,
        status: int,
        data: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", responses.new_id("req"))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), headers=headers)

    def _send_error_json(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send_json(status, responses.error_body(message, type_, code), headers)

    def _abort(self) -> None:
        """Drop the connection without finishing the HTTP message."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def send_response(self, code: int, message: str | None = None) -> None:
        self._response_started = True
        super().send_response(code, message)

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", responses.new_id("req"))
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    # -------------------------------------------------------------- routing

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        double = self.double
        if path == "/_double/requests":
            self._send_json(200, double.requests)
        elif path == "/_double/errors":
            self._send_json(200, double.errors)
        elif path == "/_double/script":
            self._send_json(200, [step.to_dict() for step in double.pending_steps])
        elif path in ("/v1/models", "/models"):
            model = responses.DEFAULT_MODEL
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": model,
                            "object": "model",
                            "created": 0,
                            "owned_by": "model-double",
                        }
                    ],
                },
            )
        elif path in ("/", "/healthz", "/v1"):
            self._send_json(
                200,
                {
                    "status": "ok",
                    "service": "model-double",
                    "base_url": double.base_url,
                },
            )
        else:
            self._send_error_json(404, f"model double: no route GET {path}", code="not_found")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        try:
            body = self._read_body()
        except (ValueError, OSError) as exc:
            self.close_connection = True
            self._send_error_json(400, f"model double: unreadable request body: {exc}")
            return
        if path in ("/v1/responses", "/responses"):
            self._response_started = False
            try:
                self._responses(body)
            except OSError:
                self.close_connection = True  # the client went away
            except Exception as exc:  # noqa: BLE001 - a bug in the double: say so loudly
                message = f"model double internal error: {type(exc).__name__}: {exc}"
                self.double._error(message)
                if self._response_started:
                    self._abort()
                else:
                    self._send_error_json(
                        500,
                        message,
                        type_="model_double_internal_error",
                        headers={"x-should-retry": "false"},
                    )
        elif path == "/_double/script":
            try:
                steps = steps_from_json(json.loads(body or b"null"))
            except (ValueError, TypeError) as exc:
                self._send_error_json(400, f"model double: bad script: {exc}")
                return
            self.double.script(*steps)
            self._send_json(200, {"queued": len(steps), "pending": len(self.double.pending_steps)})
        elif path == "/_double/reset":
            self.double.reset()
            self._send_json(200, {"reset": True})
        else:
            self._send_error_json(
                404,
                f"model double: no route POST {path} (only the Responses API is implemented)",
                code="not_found",
            )

    # -------------------------------------------------------------- /responses

    def _responses(self, body: bytes) -> None:
        double = self.double
        try:
            request = json.loads(body)
        except ValueError as exc:
            self._send_error_json(400, f"model double: invalid JSON body: {exc}")
            return
        if not isinstance(request, dict):
            self._send_error_json(400, "model double: the body must be a JSON object")
            return
        index, step = double._take(request, self.headers.get("Authorization"))
        stream = bool(request.get("stream"))

        if step is not None and step.match is not None:
            kind = behaviour.classify(request)
            if kind != step.match:
                message = (
                    f"model double: scripted step #{index} ({step.kind}) was meant for a {step.match} "
                    f"request but got a {kind} request"
                )
                double._error(message)
                self._send_error_json(
                    500,
                    message,
                    type_="model_double_script_mismatch",
                    code="script_mismatch",
                    headers={"x-should-retry": "false"},
                )
                return

        delay = double.default_delay if step is None or step.delay is None else step.delay
        if delay > 0 and double._stopping.wait(delay):
            self._abort()  # the double is stopping: drop hung requests
            return

        kind = "default" if step is None else step.kind
        if kind == "error":
            self._scripted_error(step.params)  # type: ignore[union-attr]
            return
        if kind == "malformed":
            self._malformed(stream)
            return
        if kind == "raw":
            params = step.params  # type: ignore[union-attr]
            self._send_bytes(params["status"], params["body"].encode(), content_type=params["content_type"])
            return

        output, usage = self._output_for(request, step)
        response = responses.response_object(request, output, usage)
        if kind == "cut_stream":
            self._cut(response, stream, step.params["after_events"])  # type: ignore[union-attr]
        elif stream:
            self._stream(response)
        else:
            self._send_json(200, response)
        with double._lock:
            double._sent.append((response["id"], time.time()))

    def _output_for(self, request: dict[str, Any], step: Step | None) -> tuple[list[dict[str, Any]], Any]:
        if step is None or step.kind in ("default", "cut_stream"):
            return behaviour.default_output(request), None
        if step.kind == "output_items":
            return [dict(item) for item in step.params["items"]], step.params.get("usage")
        if step.kind == "reply":
            output: list[dict[str, Any]] = []
            for item in step.params["items"]:
                output.extend(_items_for(item))
            return output, step.params.get("usage")
        return _items_for(step), step.params.get("usage")

    def _scripted_error(self, params: dict[str, Any]) -> None:
        headers = dict(params.get("headers") or {})
        if params.get("retry_after") is not None:
            value = params["retry_after"]
            headers["retry-after"] = str(int(value)) if float(value).is_integer() else str(value)
        if params.get("body") is not None:
            self._send_bytes(params["status"], str(params["body"]).encode(), headers=headers)
        else:
            body = responses.error_body(params["message"], params.get("type"), params.get("code"))
            self._send_json(params["status"], body, headers)

    def _malformed(self, stream: bool) -> None:
        if not stream:
            self._send_bytes(
                200,
                b'{"id": "resp_malformed", "object": "response", "output": [{"type": "mess',
            )
            return
        self._start_sse()
        created = {
            "type": "response.created",
            "sequence_number": 0,
            "response": {
                **responses.response_object({}, [], None),
                "status": "in_progress",
                "usage": None,
            },
        }
        self._write_chunk(responses.sse_frame(created))
        self._write_chunk(
            b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": \n\n'
        )
        self._end_chunks()

    def _cut(self, response: dict[str, Any], stream: bool, after_events: int) -> None:
        if stream:
            events = responses.stream_events(response)
            self._start_sse()
            for event in events[: min(after_events, len(events) - 1)]:
                self._write_chunk(responses.sse_frame(event))
            # Half an event, then hang up mid-chunk.
            self.wfile.write(b'400\r\nevent: response.output_text.delta\ndata: {"type"')
        else:
            data = json.dumps(response).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
        self._abort()

    def _stream(self, response: dict[str, Any]) -> None:
        self._start_sse()
        gap = self.double.stream_gap
        for index, event in enumerate(responses.stream_events(response)):
            if gap > 0 and index:
                self.wfile.flush()
                if self.double._stopping.wait(gap):
                    self._abort()
                    return
            self._write_chunk(responses.sse_frame(event))
        self._end_chunks()


def _items_for(step: Step) -> list[dict[str, Any]]:
    params = step.params
    items: list[dict[str, Any]] = []
    if params.get("reasoning"):
        items.append(responses.reasoning_item(params["reasoning"]))
    if step.kind == "text":
        items.append(responses.message_item(params["content"]))
    elif step.kind == "function_call":
        items.append(responses.function_call_item(params["name"], params["arguments"], params.get("call_id")))
    return items


class ModelDouble:
    """A local OpenAI Responses API server for tests and offline use.

    >>> with ModelDouble() as double:
    ...     double.script(text("hi"))
    ...     client = AsyncOpenAI(base_url=double.base_url, api_key="test")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default_delay: float = 0.0,
        stream_gap: float = 0.0,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.default_delay = float(default_delay)
        # Seconds between the events of a streamed answer (0: all at once), to stream as a model writes.
        self.stream_gap = float(stream_gap)
        self.verbose = verbose
        self._lock = threading.Lock()
        self._queue: collections.deque[Step] = collections.deque()
        self._requests: list[dict[str, Any]] = []
        self._authorizations: list[str | None] = []  # the Authorization header of each request
        self._errors: list[str] = []
        self._sent: list[tuple[str, float]] = []
        self._consumed = 0
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._request_arrived = threading.Condition(self._lock)

    # -------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, self._requested_port), _Handler)
        server.double = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="model-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stopping.set()  # wakes delayed ("hung") requests, which then drop their connection
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def serve_forever(self) -> None:
        """Start (if needed) and block until KeyboardInterrupt, then stop."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the model double is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port`` (control endpoints live under ``/_double/``)."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL: ``http://host:port/v1``."""
        return f"{self.url}/v1"

    # -------------------------------------------------------------- scripting

    def script(self, *steps: Step | dict[str, Any]) -> ModelDouble:
        """Queue scripted replies, consumed FIFO, one per ``/responses`` request."""
        built = [step_from_dict(step) for step in steps]
        with self._lock:
            self._queue.extend(built)
        return self

    @property
    def sent(self) -> list[tuple[str, float]]:
        """(response id, wall-clock time the answer was written), for latency measurements."""
        with self._lock:
            return list(self._sent)

    def reset(self) -> None:
        """Clear queued steps, recorded requests and errors."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._authorizations.clear()
            self._errors.clear()
            self._sent.clear()
            self._consumed = 0

    @property
    def pending_steps(self) -> list[Step]:
        with self._lock:
            return list(self._queue)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the ``/responses`` requests received so far (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def authorizations(self) -> list[str | None]:
        """The ``Authorization`` header of each ``/responses`` request, in the order of ``requests``."""
        with self._lock:
            return list(self._authorizations)

    @property
    def last_request(self) -> dict[str, Any] | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    @property
    def errors(self) -> list[str]:
        """Test errors found by the double (scripted ``match`` not met)."""
        with self._lock:
            return list(self._errors)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` requests arrived (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self._request_arrived:
            while len(self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"only {len(self._requests)} of {count} requests arrived")
                self._request_arrived.wait(remaining)
            return list(self._requests)

    # -------------------------------------------------------------- used by the handler

    def _take(self, request: dict[str, Any], authorization: str | None = None) -> tuple[int, Step | None]:
        with self._lock:
            self._requests.append(request)
            self._authorizations.append(authorization)
            self._request_arrived.notify_all()
            if not self._queue:
                return 0, None
            self._consumed += 1
            return self._consumed, self._queue.popleft()

    def _error(self, message: str) -> None:
        with self._lock:
            self._errors.append(message)
        if self.verbose:
            sys.stderr.write(f"[model-double] ERROR {message}\n")

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


def script_remote(url: str, steps: Iterable[Step | dict[str, Any]], *, timeout: float = 5.0) -> dict[str, Any]:
    """Queue steps on a double running elsewhere (``url`` = ``http://host:port`` or its ``/v1``)."""
    import urllib.request

    payload = json.dumps([step_from_dict(step).to_dict() for step in steps]).encode()
    root = url.rstrip("/").removesuffix("/v1")
    req = urllib.request.Request(
        f"{root}/_double/script",
        data=payload,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())
