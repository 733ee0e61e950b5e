"""The service's own endpoints, not a project's: the bare address and the health check."""

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sessions.events import channel_layer_status
from sessions.vibecoder.provider import provider_status
from testcases.sandbox import sandbox_capabilities
from vibegrapher.serializers import HealthSerializer


class RootView(APIView):
    """What a person opening the bare address sees: where the docs, the admin and the health check are."""

    authentication_classes = []
    permission_classes = []

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "service": "vibegrapher",
                "docs": "/docs",
                "schema": "/schema",
                "admin": f"/{settings.ADMIN_URL}",
                "health": "/health",
            }
        )


class HealthView(APIView):
    # Public, for load balancers and fly's health check, even when an API token is set.
    authentication_classes = []
    permission_classes = []

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer})
    def get(self, request: Request) -> Response:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            database = "ok"
        except Exception as exc:  # reported, not hidden: the health check exists to say this
            database = f"unreachable: {exc}"
        channel_layer = channel_layer_status()
        sandbox = sandbox_capabilities()
        body = {
            # 503 only without the database: nothing can be served. Without Redis the REST API still
            # works, but live events and the message rate limit do not: degraded, still 200.
            "status": "ok" if database == "ok" and not channel_layer.startswith("unreachable") else "degraded",
            "database": database,
            "channel_layer": channel_layer,
            "version": settings.VERSION,
            "vibecoding": provider_status(),
            "sandbox_network_isolation": "no-network" in sandbox["isolation"],
            "sandbox": sandbox,
        }
        return Response(body, status=status.HTTP_200_OK if database == "ok" else status.HTTP_503_SERVICE_UNAVAILABLE)
