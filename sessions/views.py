from adrf.views import APIView as AsyncAPIView
from asgiref.sync import sync_to_async
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.selectors import project_get
from sessions import events, runs, selectors, services
from sessions.models import VibecodeRun
from sessions.serializers import (
    ConversationMessageFullSerializer,
    ConversationMessageSerializer,
    MessageCreateSerializer,
    SessionCreateSerializer,
    VibecodeResultSerializer,
    VibecodeSessionSerializer,
)
from sessions.vibecoder.executor import run_dispatch, run_wait
from sessions.vibecoder.provider import provider_require
from vibegrapher.access import VibecodeRateThrottle
from vibegrapher.openapi import errors


class ProjectSessionsView(APIView):
    @extend_schema(responses={200: VibecodeSessionSerializer(many=True), **errors(404)})
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get(project_id=project_id)
        return Response(VibecodeSessionSerializer(selectors.session_list(project_id=project.id), many=True).data)

    @extend_schema(
        request=SessionCreateSerializer,
        responses={200: VibecodeSessionSerializer, 201: VibecodeSessionSerializer, **errors(400, 404, 413)},
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get(project_id=project_id)
        data = SessionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session, created = services.session_get_or_create(
            project=project,
            session_type=data.validated_data.get("session_type"),
            node_id=data.validated_data.get("node_id"),
        )
        return Response(
            VibecodeSessionSerializer(session).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class SessionDetailView(APIView):
    @extend_schema(responses={200: VibecodeSessionSerializer, **errors(404)})
    def get(self, request: Request, session_id: str) -> Response:
        return Response(VibecodeSessionSerializer(selectors.session_get(session_id=session_id)).data)

    @extend_schema(
        responses={204: None, **errors(404, 409)},
        description=(
            "Deletes the session and its messages and clears both agents' memories. Its diffs stay, with "
            "`session_id` null. 409 while a vibecode run is in progress in the session."
        ),
    )
    def delete(self, request: Request, session_id: str) -> Response:
        services.session_delete(session=selectors.session_get(session_id=session_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageFullView(APIView):
    @extend_schema(responses={200: ConversationMessageFullSerializer, **errors(404)})
    def get(self, request: Request, message_id: str) -> Response:
        return Response(ConversationMessageFullSerializer(selectors.message_get(message_id=message_id)).data)


class SessionMessagesView(AsyncAPIView):
    """Async: a vibecode run may take minutes and must not hold a worker thread while it does."""

    throttle_classes = [VibecodeRateThrottle]

    @extend_schema(responses={200: ConversationMessageSerializer(many=True), **errors(404)})
    async def get(self, request: Request, session_id: str) -> Response:
        session = await sync_to_async(selectors.session_get)(session_id=session_id)
        messages = await sync_to_async(selectors.message_list)(session_id=session.id)
        return Response(ConversationMessageSerializer(messages, many=True).data)

    @extend_schema(
        request=MessageCreateSerializer,
        parameters=[
            OpenApiParameter(
                "Prefer",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="`respond-async` answers 202 at once.",
            )
        ],
        responses={
            200: VibecodeResultSerializer,
            202: VibecodeResultSerializer,
            **errors(400, 401, 404, 409, 413, 429, 502, 503),
        },
    )
    async def post(self, request: Request, session_id: str) -> Response:
        run, created = await sync_to_async(_run_start)(request, session_id)
        if created:
            run_dispatch(str(run.id))
        if _prefers_respond_async(request.headers.get("Prefer", "")):
            if run.status in VibecodeRun.ACTIVE:
                body = events.vibecode_result_data(run, status="processing", token_usage=None)
                return Response(body, status=status.HTTP_202_ACCEPTED)
            return _result_response(run)
        return _result_response(await run_wait(str(run.id)))


def _run_start(request: Request, session_id: str) -> tuple[VibecodeRun, bool]:
    """The session (404), the message (400), the provider (503) and the stored run, in one trip to
    the database thread."""
    session = selectors.session_get(session_id=session_id)
    data = MessageCreateSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    provider_require()
    return runs.run_start(
        session=session,
        prompt=data.validated_data["prompt"],
        client_message_id=data.validated_data.get("message_id"),
    )


def _result_response(run: VibecodeRun) -> Response:
    """The stored result as it was broadcast (`vibecode_response`); a provider failure answers 502."""
    result = run.result or {}
    if result.get("error_kind") == "provider":
        return Response({"detail": result["error"], **result}, status=status.HTTP_502_BAD_GATEWAY)
    return Response(result)


def _prefers_respond_async(prefer: str) -> bool:
    """Whether a `Prefer` header (RFC 7240: comma-separated preferences, names case-insensitive, each
    perhaps with `=value` and `;` parameters) asks for `respond-async`."""
    return any(
        preference.split(";", 1)[0].split("=", 1)[0].strip().lower() == "respond-async"
        for preference in prefer.split(",")
    )
