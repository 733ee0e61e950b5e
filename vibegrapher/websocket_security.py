"""Who may open a WebSocket: browsers whose Origin CORS_ORIGINS allows (clients without Origin pass)."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings


def origin_allowed(origin: str | None) -> bool:
    if not origin or "*" in settings.CORS_ORIGINS:
        return True
    parts = urlsplit(origin)
    normalized = f"{parts.scheme}://{parts.netloc}".lower()
    return normalized in {allowed.rstrip("/").lower() for allowed in settings.CORS_ORIGINS}


class OriginValidator:
    """Reads settings per connection (Channels' own validator freezes ALLOWED_HOSTS at import)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin")
        if not origin_allowed(origin.decode("latin-1") if origin else None):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)
