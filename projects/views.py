from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import repository, selectors, services
from projects.serializers import (
    CommitSerializer,
    GraphSerializer,
    NodeSerializer,
    ProjectCreatedSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    RevertSerializer,
)
from vibegrapher.openapi import errors
from vibegrapher.serializers import ErrorSerializer

COMMIT_PARAMETER = OpenApiParameter(
    "commit",
    str,
    pattern=f"^{repository.COMMIT_SHA.pattern}$",
    description="A full commit id (40 hexadecimal digits) of the project's repository; default main's head.",
)


class ProjectListView(APIView):
    @extend_schema(responses={200: ProjectSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(selectors.project_list())

    @extend_schema(
        request=ProjectCreateSerializer,
        responses={201: ProjectCreatedSerializer, **errors(400, 413)},
        description=(
            "Without `code`, the repository starts with the starter workflow. With `code`, its first commit "
            '("Import workflow") holds exactly that text; a syntax error is a 400 naming line and column and '
            "creates nothing; code with no `Agent(...)` is accepted with a `warning`."
        ),
    )
    def post(self, request: Request) -> Response:
        data = ProjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "code" in data.validated_data:
            project, warning = services.project_import(
                name=data.validated_data["name"], code=data.validated_data["code"]
            )
        else:
            project, warning = services.project_create(name=data.validated_data["name"]), None
        body: dict = ProjectSerializer(project).data
        if warning is not None:
            body = {**body, "warning": warning}
        return Response(body, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    @extend_schema(responses={200: ProjectSerializer, **errors(404)})
    def get(self, request: Request, project_id: str) -> Response:
        return Response(selectors.project_detail(project_id=project_id))

    @extend_schema(responses={204: None, **errors(404, 409)})
    def delete(self, request: Request, project_id: str) -> Response:
        services.project_delete(project=selectors.project_get(project_id=project_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectNodesView(APIView):
    @extend_schema(responses={200: NodeSerializer(many=True), **errors(404)})
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(project_id=project_id)
        return Response(selectors.project_nodes(project=project))


class ProjectWorkflowFileView(APIView):
    @extend_schema(
        parameters=[COMMIT_PARAMETER],
        responses={
            (200, "text/x-python"): OpenApiResponse(OpenApiTypes.STR, description="The workflow file."),
            **errors(400, 404),
        },
        description='The workflow file as a download (`Content-Disposition: attachment; filename="workflow.py"`).',
    )
    def get(self, request: Request, project_id: str) -> HttpResponse:
        project = selectors.project_get(project_id=project_id)
        code = selectors.project_workflow_file(project=project, commit=request.query_params.get("commit"))
        response = HttpResponse(code.encode("utf-8"), content_type="text/x-python; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="workflow.py"'
        return response


class ProjectGraphView(APIView):
    @extend_schema(
        parameters=[COMMIT_PARAMETER],
        responses={200: GraphSerializer, **errors(400, 404)},
        description="Agents and `@function_tool` tools as nodes, handoffs and tool uses as edges, read from the file.",
    )
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(project_id=project_id)
        graph = selectors.project_graph(project=project, commit=request.query_params.get("commit"))
        return Response(GraphSerializer(graph).data)


class ProjectGraphSvgView(APIView):
    @extend_schema(
        parameters=[COMMIT_PARAMETER],
        responses={
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.STR, description="The graph drawn by Graphviz."),
            **errors(400, 404),
            503: OpenApiResponse(ErrorSerializer, description="Graphviz `dot` is missing, failed or timed out."),
        },
    )
    def get(self, request: Request, project_id: str) -> HttpResponse:
        # A sync view: Django runs it in a worker thread, so the `dot` subprocess never blocks the event loop.
        project = selectors.project_get(project_id=project_id)
        svg = selectors.project_graph_svg(project=project, commit=request.query_params.get("commit"))
        return HttpResponse(svg.encode("utf-8"), content_type="image/svg+xml; charset=utf-8")


class ProjectCommitsView(APIView):
    @extend_schema(responses={200: CommitSerializer(many=True), **errors(404)})
    def get(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(project_id=project_id)
        return Response(CommitSerializer(selectors.project_commits(project=project), many=True).data)


class ProjectRevertView(APIView):
    @extend_schema(
        request=RevertSerializer,
        responses={200: ProjectSerializer, **errors(400, 404, 409, 413)},
        description=(
            "Adds a commit on main that undoes the change of `commit_sha` (full or unique short id of a commit on "
            "main); history is never rewritten. 404 when main has no such commit; 409 when later commits changed "
            "the same lines, when the commit is the initial one, or when its change is no longer on main. "
            "Broadcasts `code_changed` with `diff_id` null."
        ),
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = selectors.project_get(project_id=project_id)
        data = RevertSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_revert(project=project, commit_sha=data.validated_data["commit_sha"].lower())
        return Response(ProjectSerializer(project).data)
