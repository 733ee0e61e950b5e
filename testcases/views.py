from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.selectors import project_get
from testcases import selectors, services
from testcases.serializers import TestCaseCreateSerializer, TestCaseSerializer, TestCaseUpdateSerializer
from vibegrapher.openapi import errors


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
