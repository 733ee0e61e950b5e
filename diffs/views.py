from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from diffs import selectors
from diffs.models import Diff
from diffs.serializers import DiffSerializer, DiffStatusFilterSerializer
from projects.selectors import project_get
from sessions.selectors import session_get
from vibegrapher.openapi import errors

STATUS_PARAMETER = OpenApiParameter("status", str, enum=Diff.Status.values, required=False)


class ProjectDiffsView(APIView):
    @extend_schema(parameters=[STATUS_PARAMETER], responses={200: DiffSerializer(many=True), **errors(400, 404)})
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get(project_id=project_id)
        query = DiffStatusFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        diffs = selectors.diff_list(project_id=project.id, status=query.validated_data.get("status"))
        return Response(DiffSerializer(diffs, many=True).data)


class SessionDiffsView(APIView):
    @extend_schema(responses={200: DiffSerializer(many=True), **errors(404)})
    def get(self, request: Request, session_id: str) -> Response:
        session = session_get(session_id=session_id)
        return Response(DiffSerializer(selectors.diff_list(session_id=session.id), many=True).data)


class SessionPendingDiffsView(APIView):
    @extend_schema(responses={200: DiffSerializer(many=True), **errors(404)})
    def get(self, request: Request, session_id: str) -> Response:
        session = session_get(session_id=session_id)
        diffs = selectors.diff_list(session_id=session.id, status=Diff.Status.EVALUATOR_APPROVED)
        return Response(DiffSerializer(diffs, many=True).data)


class DiffDetailView(APIView):
    @extend_schema(responses={200: DiffSerializer, **errors(404)})
    def get(self, request: Request, diff_id: str) -> Response:
        return Response(DiffSerializer(selectors.diff_get(diff_id=diff_id)).data)
