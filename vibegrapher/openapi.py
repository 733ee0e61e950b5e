"""Shared OpenAPI descriptions of error answers, so every documented status is one the views give."""

from drf_spectacular.utils import OpenApiResponse

from projects.serializers import ErrorSerializer


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
