"""Who may open a WebSocket: browsers whose Origin CORS_ORIGINS allows or that are on this server's own
origin (clients without Origin pass), holding the API token when one is configured."""

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

from vibegrapher.access import token_required, token_valid, websocket_token

CLOSE_UNAUTHORIZED = 4401


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin_key(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the default port filled in; None for `null` or a malformed one."""
    parts = urlsplit(origin.strip().lower())
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def origin_allowed(origin: str | None, host: str | None = None) -> bool:
    """A browser's Origin is allowed when CORS_ORIGINS lists it (`*`: any) or when it is this server's
    own origin (the page was served by the host the socket connects to; CORS is about other origins).
    `https://app.example:443` is `https://app.example`."""
    if not origin or "*" in settings.CORS_ORIGINS:
        return True
    key = _origin_key(origin)
    if key is None:
        return False
    if host and _origin_key(f"{key[0]}://{host}") == key:  # the Host header, read with the Origin's scheme
        return True
    return key in {_origin_key(allowed.rstrip("/")) for allowed in settings.CORS_ORIGINS}


class OriginValidator:
    """Checks origin and token; reads settings per connection (Channels' own validator freezes ALLOWED_HOSTS at import)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin, host = headers.get(b"origin"), headers.get(b"host")
        if not origin_allowed(origin.decode("latin-1") if origin else None, host.decode("latin-1") if host else None):
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
