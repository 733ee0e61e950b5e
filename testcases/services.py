from projects.models import Project
from testcases.models import TestCase


def test_case_create(*, project: Project, name: str, test_code: str, quick_test: bool = False) -> TestCase:
    return TestCase.objects.create(project=project, name=name, test_code=test_code, quick_test=quick_test)


def test_case_update(*, test_case: TestCase, **changes) -> TestCase:
    for field, value in changes.items():
        setattr(test_case, field, value)
    test_case.save()
    return test_case


def test_case_delete(*, test_case: TestCase) -> None:
    test_case.delete()
