"""Shared OpenAPI descriptions of error answers, so every documented status is one the views give."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer

from sessions.models import VibecodeSession
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


def session_combinations_document(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Postprocessing hook (after the enum one, which would merge these enums into one component): the body
    of POST /projects/:id/sessions names the combinations it takes, so the schema alone says that a global
    session with a node_id, or a node session without one, is a 400."""
    result["components"]["schemas"]["SessionCreateRequest"]["anyOf"] = [
        {
            "title": "Global session",
            "description": "session_type global or left out; node_id null or left out.",
            "properties": {
                "session_type": {"type": "string", "enum": [VibecodeSession.SessionType.GLOBAL.value]},
                "node_id": {"type": "string", "nullable": True, "enum": [None]},
            },
        },
        {
            "title": "Node session",
            "description": "a node_id, and session_type node or left out.",
            "required": ["node_id"],
            "properties": {
                "session_type": {"type": "string", "enum": [VibecodeSession.SessionType.NODE.value]},
                "node_id": {"type": "string"},
            },
        },
    ]
    return result


def test_case_kinds_document(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Postprocessing hook: a test is code or a scenario. Creating one takes exactly one of `test_code` and
    `scenario`; changing one takes at most one (the one given replaces the other). A scenario takes only
    its own fields."""
    schemas = result["components"]["schemas"]
    schemas["ScenarioRequest"]["additionalProperties"] = False
    schemas["TestCaseCreateRequest"]["oneOf"] = [
        {"title": "Code test", "required": ["test_code"], "not": {"required": ["scenario"]}},
        {"title": "Scenario test", "required": ["scenario"], "not": {"required": ["test_code"]}},
    ]
    schemas["PatchedTestCaseUpdateRequest"]["not"] = {"required": ["test_code", "scenario"]}
    return result


_PROJECT = {"project_id": "$response.body#/id"}
_SESSION = {"session_id": "$response.body#/id"}
_TEST = {"test_id": "$response.body#/id"}
_DIFF = {"diff_id": "$response.body#/id"}
_FIRST_DIFF = {"diff_id": "$response.body#/0/id"}
_RESULT_DIFF = {"diff_id": "$response.body#/diff_id"}
# (path, method, status) -> {link name: (operationId, parameters)}: what a client does next with an answer's
# ids. Documentation for clients, and the routes the fuzzer's stateful phase walks.
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("/projects", "post", "201"): {
        "GetProject": ("projects_retrieve", _PROJECT),
        "DeleteProject": ("projects_destroy", _PROJECT),
        "GetNodes": ("projects_nodes_list", _PROJECT),
        "GetGraph": ("projects_graph_retrieve", _PROJECT),
        "GetCommits": ("projects_commits_list", _PROJECT),
        "CreateSession": ("projects_sessions_create", _PROJECT),
        "ListSessions": ("projects_sessions_list", _PROJECT),
        "CreateTest": ("projects_tests_create", _PROJECT),
        "ListTests": ("projects_tests_list", _PROJECT),
        "ListDiffs": ("projects_diffs_list", _PROJECT),
    },
    **{
        ("/projects/{project_id}/sessions", "post", status): {
            "GetSession": ("sessions_retrieve", _SESSION),
            "DeleteSession": ("sessions_destroy", _SESSION),
            "SendMessage": ("sessions_messages_create", _SESSION),
            "ListMessages": ("sessions_messages_list", _SESSION),
            "ListDiffs": ("sessions_diffs_list", _SESSION),
            "ListPendingDiffs": ("sessions_diffs_pending_list", _SESSION),
        }
        for status in ("200", "201")
    },
    ("/sessions/{session_id}/messages", "post", "200"): {
        "GetDiff": ("diffs_retrieve", _RESULT_DIFF),
        "PreviewDiff": ("diffs_preview_retrieve", _RESULT_DIFF),
        "ReviewDiff": ("diffs_review_create", _RESULT_DIFF),
        "TestDiff": ("diffs_test_create", _RESULT_DIFF),
        "RefineMessage": ("diffs_refine_message_create", _RESULT_DIFF),
        "ListMessages": ("sessions_messages_list", {"session_id": "$response.body#/session_id"}),
    },
    ("/sessions/{session_id}/messages", "get", "200"): {
        "GetFullMessage": ("messages_full_retrieve", {"message_id": "$response.body#/0/id"}),
    },
    ("/projects/{project_id}/diffs", "get", "200"): {
        "GetDiff": ("diffs_retrieve", _FIRST_DIFF),
        "ReviewDiff": ("diffs_review_create", _FIRST_DIFF),
        "CommitDiff": ("diffs_commit_create", _FIRST_DIFF),
    },
    ("/diffs/{diff_id}/review", "post", "200"): {
        "CommitDiff": ("diffs_commit_create", _DIFF),
        "GetDiff": ("diffs_retrieve", _DIFF),
    },
    ("/diffs/{diff_id}/commit", "post", "200"): {
        "GetCommits": ("projects_commits_list", {"project_id": "$response.body#/project_id"}),
        "GetProject": ("projects_retrieve", {"project_id": "$response.body#/project_id"}),
    },
    ("/projects/{project_id}/commits", "get", "200"): {
        "GetWorkflowFile": (
            "projects_workflow.py_retrieve",
            {"project_id": "$request.path.project_id", "commit": "$response.body#/0/sha"},
        ),
    },
    ("/projects/{project_id}/tests", "post", "201"): {
        "GetTest": ("tests_retrieve", _TEST),
        "UpdateTest": ("tests_partial_update", _TEST),
        "DeleteTest": ("tests_destroy", _TEST),
        "RunTest": ("tests_run_create", _TEST),
    },
}


def links_document(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Postprocessing hook: OpenAPI links from LINKS, each checked to name a real operation and parameter."""
    operations = {
        operation["operationId"]: operation
        for path_item in result["paths"].values()
        for operation in path_item.values()
    }
    for (path, method, status), links in LINKS.items():
        response = result["paths"][path][method]["responses"][status]
        for name, (operation_id, parameters) in links.items():
            known = {parameter["name"] for parameter in operations[operation_id].get("parameters", [])}
            assert set(parameters) <= known, f"link {name}: {operation_id} has no parameter {set(parameters) - known}"
            response.setdefault("links", {})[name] = {"operationId": operation_id, "parameters": parameters}
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
