"""Django's stock middleware, run on the event loop for async views.

On an async view (a vibecode run, a sandbox run, a model call) Django's `MiddlewareMixin` hops to a
worker thread and back for every `process_request` and `process_response`: 14 hops per request with
the stack in settings, each costing about as much CPU as a small query. These classes do that work
in place instead. For the service's async views none of it touches the database or the disk: they
read and set headers and cookies, and leave the session, the user and the messages untouched (lazy
objects that nothing evaluates); a session that was changed is still saved on a thread.

Sync views (the admin, the CRUD endpoints) are served by `vibegrapher.asgi_handler` on pool threads,
where these classes behave exactly like Django's.

The session, CSRF, authentication and messages middleware serve the admin's login, forms and notices,
and act on its paths (settings.ADMIN_URL) alone. On the API they did nothing (it authenticates by
token, DRF exempts its views from CSRF, and nothing there reads the session, the user or messages)
but cost about 0.1 ms a request.
"""

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase
from django.middleware import clickjacking, common, csrf, security


class _OnTheEventLoop:
    """Mixed in before a `MiddlewareMixin` subclass whose methods do no blocking I/O."""

    # Provided by MiddlewareMixin, next in the MRO.
    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self._response_blocks(request):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
            else:
                response = self.process_response(request, response)
        return response

    def _response_blocks(self, request: HttpRequest) -> bool:
        return False


def _in_admin(request: HttpRequest) -> bool:
    return request.path_info.startswith(f"/{settings.ADMIN_URL}")


class _AdminOnly:
    """Mixed in first: requests outside the admin pass straight through."""

    get_response: Any

    def __call__(self, request: HttpRequest) -> Any:
        if _in_admin(request):
            return super().__call__(request)  # type: ignore[misc]
        return self.get_response(request)  # in async mode, the coroutine the chain awaits


class SecurityMiddleware(_OnTheEventLoop, security.SecurityMiddleware):
    pass


class SessionMiddleware(_AdminOnly, _OnTheEventLoop, sessions.SessionMiddleware):
    def _response_blocks(self, request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(_OnTheEventLoop, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(_AdminOnly, _OnTheEventLoop, csrf.CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        # Django calls this for every view, outside the middleware's own __call__.
        if _in_admin(request):
            return super().process_view(request, callback, callback_args, callback_kwargs)
        return None


class AuthenticationMiddleware(_AdminOnly, _OnTheEventLoop, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_AdminOnly, _OnTheEventLoop, messages.MessageMiddleware):
    pass


class XFrameOptionsMiddleware(_OnTheEventLoop, clickjacking.XFrameOptionsMiddleware):
    pass
