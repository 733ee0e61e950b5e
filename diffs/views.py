from adrf.views import APIView as AsyncAPIView
from asgiref.sync import sync_to_async
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from diffs import selectors, services
from diffs.commit_messages import commit_message_refine
from diffs.models import Diff
from diffs.serializers import (
    CommitRequestSerializer,
    DiffPreviewSerializer,
    DiffSerializer,
    DiffStatusFilterSerializer,
    RefinedMessageSerializer,
    RefineMessageSerializer,
    ReviewSerializer,
)
from projects.selectors import project_get
from sessions.selectors import session_get
from sessions.vibecoder.executor import run_dispatch
from vibegrapher.openapi import errors

STATUS_PARAMETER = OpenApiParameter(
    "status", str, enum=[*Diff.Status.values, ""], required=False, description="Empty or left out: every diff."
)


class ProjectDiffsView(APIView):
    @extend_schema(parameters=[STATUS_PARAMETER], responses={200: DiffSerializer(many=True), **errors(400, 404)})
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get(project_id=project_id)
        query = DiffStatusFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        diffs = selectors.diff_list(project_id=project.id, status=query.validated_data.get("status") or None)
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


class DiffPreviewView(APIView):
    @extend_schema(responses={200: DiffPreviewSerializer, **errors(404)})
    def get(self, request: Request, diff_id: str) -> Response:
        diff = selectors.diff_get(diff_id=diff_id)
        return Response(DiffPreviewSerializer(selectors.diff_preview(diff=diff)).data)


class DiffReviewView(AsyncAPIView):
    """Async: a rejection starts a new vibecode run on this event loop, which the response does not wait for."""

    @extend_schema(
        request=ReviewSerializer,
        responses={200: DiffSerializer, **errors(400, 404, 409, 413)},
        description=(
            "`approved: true` moves an evaluator_approved diff to human_approved. `approved: false` moves it to "
            "human_rejected, stores `feedback` (optional; without it the vibecoder is told to try a different "
            "approach) and starts a new vibecode run in the same session whose request is the feedback and the "
            "rejected change. The answer is the updated Diff at once; the run streams over the WebSocket. While the "
            "session has a run in progress the rejection is refused with 409 (the diff still waits for review). "
            "Without a model provider the diff is still rejected and a system message in the session says why no "
            "run started."
        ),
    )
    async def post(self, request: Request, diff_id: str) -> Response:
        diff = await sync_to_async(selectors.diff_get)(diff_id=diff_id)
        data = ReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        feedback = data.validated_data.get("feedback")
        if data.validated_data["approved"]:
            diff = await sync_to_async(services.diff_approve)(diff=diff, feedback=feedback)
        else:
            diff, run = await sync_to_async(services.diff_reject)(diff=diff, feedback=feedback)
            if run is not None:
                run_dispatch(str(run.id))
        return Response(DiffSerializer(diff).data)


class DiffCommitView(APIView):
    @extend_schema(
        request=CommitRequestSerializer,
        responses={200: DiffSerializer, **errors(400, 404, 409, 413)},
        description=(
            "Commits a human_approved diff on main with `commit_message` (default: the diff's) plus the trailers "
            "`Vibegrapher-Diff` and `Vibegrapher-Session`. When main has moved past the diff's base commit the "
            'change is merged three-way; if it conflicts the answer is 409 "Base commit mismatch ..." and nothing '
            "changes. Broadcasts `code_changed` and clears the evaluator's memory of the session."
        ),
    )
    def post(self, request: Request, diff_id: str) -> Response:
        diff = selectors.diff_get(diff_id=diff_id)
        data = CommitRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        diff = services.diff_commit(diff=diff, message=data.validated_data.get("commit_message"))
        return Response(DiffSerializer(diff).data)


class DiffRefineMessageView(AsyncAPIView):
    """Async: it waits for a model call."""

    @extend_schema(
        request=RefineMessageSerializer,
        responses={200: RefinedMessageSerializer, **errors(400, 404, 409, 413, 502, 503)},
        description=(
            "The evaluator proposes a better commit message (`prompt`: what you want from it; `current_message`: "
            "the message to improve, default the diff's). The diff is not changed: send the message you want with "
            "the commit. 409 for diffs already committed or rejected."
        ),
    )
    async def post(self, request: Request, diff_id: str) -> Response:
        diff = await sync_to_async(selectors.diff_get)(diff_id=diff_id)
        data = RefineMessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refined = await commit_message_refine(
            diff=diff,
            hint=data.validated_data.get("prompt"),
            current_message=data.validated_data.get("current_message"),
        )
        return Response(RefinedMessageSerializer(refined).data)
