from collections.abc import Callable
from typing import Any, TypeVar

from adrf.views import APIView as AsyncAPIView
from asgiref.sync import sync_to_async
from django.db import connections
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from diffs.selectors import diff_get
from projects.selectors import project_get
from testcases import selectors, services
from testcases.playground import playground_run
from testcases.serializers import (
    DiffTestRequestSerializer,
    DiffTestResultSerializer,
    PlaygroundRequestSerializer,
    PlaygroundResultSerializer,
    TestCaseCreateSerializer,
    TestCaseSerializer,
    TestCaseUpdateSerializer,
    TestRunSerializer,
)
from vibegrapher.openapi import errors

T = TypeVar("T")


async def _in_worker_thread(service: Callable[..., T], **kwargs: Any) -> T:
    """Run a long, blocking service in a thread of its own, not the one shared sync thread, so a
    30 s sandbox run holds no thread other requests need; that thread's DB connections are closed after."""

    def call() -> T:
        try:
            return service(**kwargs)
        finally:
            connections.close_all()

    return await sync_to_async(call, thread_sensitive=False)()


class ProjectTestsView(APIView):
    @extend_schema(responses={200: TestCaseSerializer(many=True), **errors(404)})
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get(project_id=project_id)
        return Response(TestCaseSerializer(selectors.test_case_list(project_id=project.id), many=True).data)

    @extend_schema(request=TestCaseCreateSerializer, responses={201: TestCaseSerializer, **errors(400, 404, 413)})
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get(project_id=project_id)
        data = TestCaseCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        test_case = services.test_case_create(project=project, **data.validated_data)
        return Response(TestCaseSerializer(test_case).data, status=status.HTTP_201_CREATED)


class ProjectQuickTestsView(APIView):
    @extend_schema(responses={200: TestCaseSerializer(many=True), **errors(404)})
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get(project_id=project_id)
        tests = selectors.test_case_list(project_id=project.id, quick_only=True)
        return Response(TestCaseSerializer(tests, many=True).data)


class TestDetailView(APIView):
    @extend_schema(responses={200: TestCaseSerializer, **errors(404)})
    def get(self, request: Request, test_id: str) -> Response:
        return Response(TestCaseSerializer(selectors.test_case_get(test_id=test_id)).data)

    @extend_schema(request=TestCaseUpdateSerializer, responses={200: TestCaseSerializer, **errors(400, 404, 413)})
    def patch(self, request: Request, test_id: str) -> Response:
        test_case = selectors.test_case_get(test_id=test_id)
        data = TestCaseUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        test_case = services.test_case_update(test_case=test_case, **data.validated_data)
        return Response(TestCaseSerializer(test_case).data)

    @extend_schema(responses={204: None, **errors(404)})
    def delete(self, request: Request, test_id: str) -> Response:
        services.test_case_delete(test_case=selectors.test_case_get(test_id=test_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TestRunView(AsyncAPIView):
    """Async: a sandbox run may take SANDBOX_TIMEOUT_S and must not hold a sync worker thread."""

    @extend_schema(request=None, responses={200: TestRunSerializer, **errors(404)})
    async def post(self, request: Request, test_id: str) -> Response:
        test_case = await sync_to_async(selectors.test_case_get)(test_id=test_id)
        run = await _in_worker_thread(services.test_case_run, test_case=test_case)
        return Response(TestRunSerializer(run).data)


class DiffTestsView(AsyncAPIView):
    """Async, like TestRunView: runs the diff's tests (default: the quick ones) against its code."""

    @extend_schema(
        request=DiffTestRequestSerializer, responses={200: DiffTestResultSerializer, **errors(400, 404, 413)}
    )
    async def post(self, request: Request, diff_id: str) -> Response:
        diff = await sync_to_async(diff_get)(diff_id=diff_id)
        data = DiffTestRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = await _in_worker_thread(
            services.diff_run_tests, diff=diff, test_ids=data.validated_data.get("test_ids")
        )
        return Response(DiffTestResultSerializer(result).data)


class PlaygroundView(AsyncAPIView):
    """Async: the run waits on the sandbox (up to PLAYGROUND_TIMEOUT_S) while this loop serves its relay."""

    @extend_schema(
        request=PlaygroundRequestSerializer,
        responses={200: PlaygroundResultSerializer, **errors(400, 404, 409, 413, 503)},
        description=(
            "Runs the workflow itself in the sandbox, at main or with `diff_id`'s change applied (main is left "
            "unchanged), from the agent with node id `agent` or else the entry agent (the first one no other "
            "agent hands off to). Its model calls are relayed by the service. `session` keeps the conversation "
            "across calls. Each step is broadcast as `playground_event`. A run that fails or hits "
            "PLAYGROUND_TIMEOUT_S answers 200 with status `error` or `timeout`."
        ),
    )
    async def post(self, request: Request, project_id: str) -> Response:
        project = await sync_to_async(project_get)(project_id=project_id)
        data = PlaygroundRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(await playground_run(project=project, **data.validated_data))
