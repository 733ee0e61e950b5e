from uuid import UUID

from testcases.models import TestCase
from vibegrapher.errors import NotFound


def test_case_get(*, test_id: UUID | str) -> TestCase:
    try:
        return TestCase.objects.select_related("project").get(pk=test_id)
    except (TestCase.DoesNotExist, ValueError) as exc:
        raise NotFound(f"Test {test_id} not found.") from exc


def test_case_list(*, project_id: UUID | str, quick_only: bool = False) -> list[TestCase]:
    tests = TestCase.objects.filter(project_id=project_id).order_by("created_at")
    if quick_only:
        tests = tests.filter(quick_test=True)
    return list(tests)
