"""Who may open a WebSocket: browsers whose Origin CORS_ORIGINS allows (clients without Origin pass),
holding the API token when one is configured."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

from vibegrapher.access import token_required, token_valid, websocket_token

CLOSE_UNAUTHORIZED = 4401


def origin_allowed(origin: str | None) -> bool:
    if not origin or "*" in settings.CORS_ORIGINS:
        return True
    parts = urlsplit(origin)
    normalized = f"{parts.scheme}://{parts.netloc}".lower()
    return normalized in {allowed.rstrip("/").lower() for allowed in settings.CORS_ORIGINS}


class OriginValidator:
    """Checks origin and token; reads settings per connection (Channels' own validator freezes ALLOWED_HOSTS at import)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin")
        if not origin_allowed(origin.decode("latin-1") if origin else None):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        if token_required() and not token_valid(websocket_token(scope)):
            return await _close_unauthorized(receive, send)
        return await self.application(scope, receive, send)


async def _close_unauthorized(receive, send) -> None:
    """Accept, then close with 4401, so a browser can tell a missing token from a network error."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CLOSE_UNAUTHORIZED})
