from uuid import UUID

from rest_framework.generics import get_object_or_404

from testcases.models import TestCase


def test_case_get(*, test_id: UUID | str) -> TestCase:
    return get_object_or_404(TestCase.objects.select_related("project"), pk=test_id)


def test_case_list(*, project_id: UUID | str, quick_only: bool = False) -> list[TestCase]:
    tests = TestCase.objects.filter(project_id=project_id).order_by("created_at")
    if quick_only:
        tests = tests.filter(quick_test=True)
    return list(tests)
