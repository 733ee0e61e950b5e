"""The one ASGI router: HTTP goes to Django, WebSockets to the project event consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from vibegrapher.routing import websocket_urlpatterns  # noqa: E402
from vibegrapher.websocket_security import OriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        # /static/ (the admin's CSS and JS) is answered from the installed apps' static folders by
        # Django's own handler, under daphne and uvicorn alike and with DEBUG off; every other path
        # goes straight to Django, so API requests pay nothing for it.
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": OriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
