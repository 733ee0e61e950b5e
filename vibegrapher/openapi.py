"""Shared OpenAPI descriptions of error answers, so every documented status is one the views give."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer

from vibegrapher.serializers import ErrorSerializer

TOKEN_SCHEME = "apiToken"


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    text = {
        400: "Invalid input.",
        401: "An API token is configured and the request did not carry it.",
        404: "Unknown id.",
        409: "The resource is not in a state that allows this.",
        413: "Request body too large.",
        429: "Too many vibecode requests from this client; see Retry-After.",
        502: "The model provider failed.",
        503: "The model provider is not configured.",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=text[code]) for code in statuses}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The optional API token of vibegrapher/access.py: needed only when VIBEGRAPHER_API_TOKEN is set."""

    target_class = "vibegrapher.access.ApiTokenAuthentication"
    name = TOKEN_SCHEME

    def get_security_definition(self, auto_schema) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Only when the server sets VIBEGRAPHER_API_TOKEN; `X-API-Token: <token>` works too.",
        }

    def get_security_requirement(self, auto_schema) -> list[dict[str, list]]:
        return [{TOKEN_SCHEME: []}, {}]  # {}: a server without a token takes requests without one


def token_errors_document(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Postprocessing hook: every operation that takes the token answers 401 without it, so says so."""
    unauthorized = {
        "description": errors(401)[401].description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if any(TOKEN_SCHEME in requirement for requirement in operation.get("security", [])):
                operation["responses"].setdefault("401", unauthorized)
    return result


class _ErrorsAsJson:
    """The schema is YAML or JSON and the docs page HTML, but their errors (a POST is 405) are
    `{"detail": ...}` JSON like every other endpoint's."""

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class SchemaView(_ErrorsAsJson, SpectacularAPIView):
    pass


class DocsView(_ErrorsAsJson, SpectacularSwaggerView):
    pass
