"""Running a diff's tests while committing it never deadlocks: both take row locks in one order
(vibegrapher/locks.py). PostgreSQL only: SQLite's transactions take the whole file at once."""

import random
import threading
import traceback

import pytest
from django.db import connection, connections

from diffs import services as diff_services
from diffs.models import Diff
from diffs.tests.builders import approved_diff, project_with_session
from projects.models import Project
from projects.starter_code import STARTER_WORKFLOW
from testcases import models as testcase_models
from testcases import services as testcase_services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.timeout(600)]

ROUNDS = 10
TEST_CODE = "def test_it(workflow):\n    assert workflow is not None\n"


def test_running_a_diffs_tests_while_committing_it_never_deadlocks():
    if connection.vendor != "postgresql":
        pytest.skip(f"PostgreSQL row locks; the test database is {connection.vendor}")
    project, session = project_with_session("Locks")
    for number in range(3):
        testcase_services.test_case_create(
            project=project, name=f"quick {number}", test_code=TEST_CODE, quick_test=True
        )
    failures: list[str] = []
    for round_number in range(ROUNDS):
        project.refresh_from_db()
        diff = approved_diff(
            project=project, session=session, new_code=f"{STARTER_WORKFLOW}\n# change {round_number}\n"
        )
        start = threading.Barrier(2)

        def work(action, delay: float, start: threading.Barrier) -> None:
            try:
                start.wait(timeout=30)
                threading.Event().wait(delay)
                action()
            except Exception:  # noqa: BLE001 - every failure is reported, with its traceback
                failures.append(traceback.format_exc())
            finally:
                connections.close_all()

        # The commit is staggered over the time the tests take, so it meets their stores at all points.
        threads = [
            threading.Thread(target=work, args=(lambda d=diff: testcase_services.diff_run_tests(diff=d), 0, start)),
            threading.Thread(
                target=work, args=(lambda d=diff: diff_services.diff_commit(diff=d), random.uniform(0, 0.6), start)
            ),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, f"round {round_number}: {failures[0]}"
        assert Diff.objects.get(pk=diff.pk).status == Diff.Status.COMMITTED
        assert testcase_models.TestRun.objects.filter(diff=diff).count() == 3
        committed = Diff.objects.get(pk=diff.pk).committed_sha
        assert Project.objects.get(pk=project.pk).current_commit == committed
