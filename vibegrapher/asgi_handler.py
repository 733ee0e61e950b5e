# Kept: stock ASGIHandler instead costs GET /projects c1 256 -> 99 req/s, POST /projects c1 93 -> 54 (bench/rest_load.py, uvicorn x1, medians of 3 interleaved runs).
"""Django's ASGI handler, serving sync views from a small pool of threads the way a threaded WSGI server does.

Stock `ASGIHandler` gives every request a new thread (a fresh `ThreadSensitiveContext`), so no database
connection is ever reused, and it crosses from the event loop to that thread and back once per
middleware method, for the view and for the close. On a plain GET that was most of the time spent.
Here a request to a sync view is handled in one call on one of `threads` long-lived threads: request
signals, the whole (sync) middleware stack and the view, each thread keeping its SQLite connection
(PostgreSQL connections go back to their pool as before). Requests wait their turn for a thread in
arrival order; a few threads serve more requests per second than many, which only fight over the GIL
and the SQLite write lock.

Async views (vibecode runs, sandbox test runs, model calls) keep Django's own async path: they hold no
pool thread while they wait and are cancelled on a client disconnect as before. Sync views are short
database and git work; should all pool threads still be stuck on it (a long lock wait) with nothing
finishing for `STALL_S`, further requests take Django's own path too, so a jammed pool never stalls
the service.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.http import HttpResponseBase
from django.urls import Resolver404, ResolverMatch, resolve, set_script_prefix

STALL_S = 1.0


class PooledASGIHandler(ASGIHandler):
    def __init__(self, *, threads: int) -> None:
        super().__init__()  # the async middleware chain, for async views
        self._sync_handler = _ResolvedHandler()
        self._sync_handler.load_middleware(is_async=False)
        self._threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")
        # Both only touched on the event loop's thread.
        self._in_pool = 0  # requests running on or waiting for a pool thread
        self._progress_at = time.monotonic()  # last time the pool was seen moving

    def _pool_jammed(self) -> bool:
        if self._in_pool < self._threads:
            self._progress_at = time.monotonic()
            return False
        return time.monotonic() - self._progress_at > STALL_S

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        path, match = _resolve(scope)
        if (match is not None and iscoroutinefunction(match.func)) or self._pool_jammed():
            await super().__call__(scope, receive, send)
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        self._in_pool += 1
        try:
            response = await sync_to_async(self._respond, thread_sensitive=False, executor=self._pool)(
                scope, body_file, (path, match)
            )
        finally:
            self._in_pool -= 1
            self._progress_at = time.monotonic()
        try:
            await self.send_response(response, send)
        finally:
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=False, executor=self._pool)()
            body_file.close()

    def create_request(self, scope, body_file):
        """Django's request, which also knows the length of a body sent without Content-Length
        (`Transfer-Encoding: chunked`): DRF reads no body without it, and Django's size limit
        (413) is checked against it."""
        request, error_response = super().create_request(scope, body_file)
        if request is not None and not request.META.get("CONTENT_LENGTH"):
            size = body_file.seek(0, os.SEEK_END)
            body_file.seek(0)
            if size:
                request.META["CONTENT_LENGTH"] = str(size)
        return request, error_response

    def _respond(self, scope, body_file, resolved: tuple[str, ResolverMatch | None]) -> HttpResponseBase:
        """What `WSGIHandler.__call__` does, for one request on a pool thread."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        created = self.create_request(scope, body_file)  # (request, None), or (None, an error response)
        if created[0] is not None:
            created[0]._vibegrapher_resolved = resolved
            response = self._sync_handler.get_response(created[0])
        else:
            response = created[1]
        # Django's own handlers set this too; the stubs leave the private attribute out.
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        _keep_sqlite_connections()
        if not response.streaming:
            # Content is complete, so close now, on this thread: `request_finished` then sees to
            # this thread's database connections, where they were used.
            response.close()
        return response


def _keep_sqlite_connections() -> None:
    """Let this pool thread's SQLite connections outlive the request (CONN_MAX_AGE stays 0 for the
    short-lived threads of Django's own path, whose connections would otherwise linger until a
    garbage collection); opening one costs more than many a GET. Connections in a bad state are
    still closed by `request_finished`."""
    for connection in connections.all(initialized_only=True):
        if connection.vendor == "sqlite":
            connection.close_at = None


def _resolve(scope) -> tuple[str, ResolverMatch | None]:
    """The request's path (as Django's `path_info` will be) and its view, or None for no view."""
    path = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    try:
        return path, resolve(path)
    except Resolver404:
        return path, None


class _ResolvedHandler(BaseHandler):
    """A handler that takes the view `PooledASGIHandler` already resolved for the request (to choose
    its path) instead of resolving the URL a second time."""

    def resolve_request(self, request):
        path, match = request.__dict__.pop("_vibegrapher_resolved", ("", None))
        if match is None or path != request.path_info or hasattr(request, "urlconf"):
            return super().resolve_request(request)
        request.resolver_match = match
        return match
