"""The one ASGI router: HTTP goes to Django, WebSockets to the project event consumers, /socket.io/ to
the Socket.IO server."""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")
django.setup(set_prefix=False)  # what get_asgi_application() does before making its handler

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from sessions.socketio_events import application as socketio_application  # noqa: E402
from sessions.vibecoder.executor import boot_recover, reaper_ensure  # noqa: E402
from sessions.vibecoder.provider import provider_warm_up  # noqa: E402
from vibegrapher.asgi_handler import PooledASGIHandler  # noqa: E402
from vibegrapher.routing import websocket_urlpatterns  # noqa: E402
from vibegrapher.websocket_security import OriginValidator  # noqa: E402

_router = ProtocolTypeRouter(
    {
        # /static/ (the admin's CSS and JS) is answered from the installed apps' static folders by
        # Django's own handler, under daphne and uvicorn alike and with DEBUG off; every other path
        # goes straight to Django, so API requests pay nothing for it.
        "http": ASGIStaticFilesHandler(PooledASGIHandler(threads=settings.WEB_THREADS)),
        "websocket": OriginValidator(URLRouter(websocket_urlpatterns)),
    }
)


async def application(scope, receive, send):
    # The reaper runs in every serving process from its first request or socket on: runs that a
    # stopped process left `running` are marked interrupted even if this one never starts a run.
    reaper_ensure()
    if scope["type"] in ("http", "websocket") and scope["path"].startswith("/socket.io/"):
        await socketio_application(scope, receive, send)  # Socket.IO clients (both transports)
        return
    await _router(scope, receive, send)


# Runs this instance's previous boot left `running` (a kill -9, a crash) are interrupted before the first request.
boot_recover(executes_runs=settings.VIBECODE_EXECUTOR != "worker")
provider_warm_up()  # the first vibecode run would otherwise pay for it

# Everything loaded so far (Django, DRF, the Agents SDK, openai's models) lives as long as the process.
# Moving it out of the collector's reach keeps full collections from walking it: they cost 50-100 ms
# of stalled event loop each, seen as the p99 of the simplest GET.
gc.freeze()
