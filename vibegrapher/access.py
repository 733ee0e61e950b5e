"""Access control: the optional API token (REST and WebSocket) and the vibecode rate limit."""

import hmac
from urllib.parse import parse_qs

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

TOKEN_SUBPROTOCOL = "bearer"


def token_required() -> bool:
    return bool(settings.VIBEGRAPHER_API_TOKEN)


def token_valid(candidate: str | None) -> bool:
    return bool(candidate and hmac.compare_digest(candidate.encode(), settings.VIBEGRAPHER_API_TOKEN.encode()))


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` or `X-API-Token: <token>`."""

    def authenticate(self, request: Request):
        if not token_required():
            return None
        candidate = _bearer(request.headers.get("Authorization")) or request.headers.get("X-API-Token")
        if candidate is None:
            return None
        if not token_valid(candidate):
            raise exceptions.AuthenticationFailed("The API token is not valid.")
        return (None, "api-token")

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="vibegrapher"'


class ApiTokenRequired(BasePermission):
    message = "This API needs a token: send 'Authorization: Bearer <VIBEGRAPHER_API_TOKEN>'."

    def has_permission(self, request: Request, view) -> bool:
        if token_required() and request.auth != "api-token":
            raise exceptions.NotAuthenticated(self.message)
        return True


class RateLimitUnavailable(exceptions.APIException):
    """The rate limit's counts cannot be read (this module is loaded with DRF's settings, so it cannot
    use the service errors of vibegrapher.errors, which import DRF's views)."""

    status_code = 503


class VibecodeRateThrottle(SimpleRateThrottle):
    """Vibecode requests per client address; other methods are not counted."""

    scope = "vibecode"

    def get_rate(self) -> str | None:
        return settings.VIBECODE_RATE or None

    def allow_request(self, request: Request, view) -> bool:
        if request.method != "POST":
            return True
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except RedisError as exc:  # the counts live in Redis when REDIS_URL is set
            raise RateLimitUnavailable(
                f"Vibecode requests cannot be counted against the rate limit: Redis is unreachable ({exc}). "
                "Try again shortly."
            ) from exc

    def get_cache_key(self, request: Request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def get_ident(self, request: Request) -> str:
        # The peer address as the server gives it, never X-Forwarded-For itself (DRF's default, which any
        # client can vary per request): uvicorn's --proxy-headers puts the forwarded client there only
        # for a peer in FORWARDED_ALLOW_IPS, the one place that decides which proxies are trusted.
        return request.META.get("REMOTE_ADDR") or "unknown"


def websocket_token(scope: dict) -> str | None:
    """The token a WebSocket client sent: Authorization header, `bearer` subprotocol, or ?token=."""
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    header_token = _bearer(headers.get("authorization"))
    if header_token:
        return header_token
    protocols = scope.get("subprotocols") or []
    if TOKEN_SUBPROTOCOL in protocols:
        others = [protocol for protocol in protocols if protocol != TOKEN_SUBPROTOCOL]
        if others:
            return others[0]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [None])[0]
