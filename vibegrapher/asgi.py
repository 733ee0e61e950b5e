"""The one ASGI router: HTTP goes to Django, WebSockets to the project event consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)

from vibegrapher.routing import websocket_urlpatterns  # noqa: E402
from vibegrapher.websocket_security import OriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
