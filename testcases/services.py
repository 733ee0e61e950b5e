"""Test cases, and their runs in the sandbox: one test against main's head, or a diff's tests.

Sandbox runs are blocking and may take up to SANDBOX_TIMEOUT_S (plus start-up): these services are
sync, and async views call them in a worker thread. At most SANDBOX_CONCURRENCY sandboxes run at
once in one server process, whoever asked for them; the others wait for a slot (their timeout only
starts once the sandbox is up, so waiting costs no test time).
"""

import hashlib
import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from diffs.models import Diff
from projects import repository
from projects.models import Project
from sessions import events
from testcases import sandbox
from testcases.models import TestCase, TestRun
from testcases.playground import scenario_run
from testcases.sandbox import SandboxResult, sandbox_run
from testcases.slots import sandbox_slots
from vibegrapher.errors import InvalidInput, NotFound, SandboxUnavailable
from vibegrapher.locks import rows_lock

logger = logging.getLogger(__name__)


def test_case_create(
    *,
    project: Project,
    name: str,
    test_code: str | None = None,
    scenario: dict[str, Any] | None = None,
    quick_test: bool = False,
) -> TestCase:
    """A code test or a scenario test: exactly one of `test_code` and `scenario` (the serializer checks it)."""
    if (test_code is None) == (scenario is None):
        raise InvalidInput("Give exactly one of test_code and scenario.")
    return TestCase.objects.create(
        project=project, name=name, test_code=test_code, scenario=scenario, quick_test=quick_test
    )


def test_case_update(*, test_case: TestCase, **changes) -> TestCase:
    """Changes the fields given; a new `test_code` turns a scenario test into a code test, and back."""
    if "test_code" in changes:
        changes["scenario"] = None
    elif "scenario" in changes:
        changes["test_code"] = None
    for field, value in changes.items():
        setattr(test_case, field, value)
    test_case.save()
    return test_case


def test_case_delete(*, test_case: TestCase) -> None:
    test_case.delete()


# --- Running tests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    """One test about to run against one version of the workflow."""

    test_case: TestCase
    workflow_code: str
    timeout_s: float

    @property
    def fingerprint(self) -> str:
        """What decides the result: the two files and the limits. The test's name does not."""
        material = [
            self.workflow_code,
            self.test_case.test_code,
            self.test_case.quick_test,
            self.timeout_s,
            settings.SANDBOX_MEMORY_MB,
        ]
        if self.test_case.scenario is not None:
            material += [self.test_case.scenario, settings.PLAYGROUND_MODEL]
        return hashlib.sha256(json.dumps(material).encode("utf-8")).hexdigest()


def _plan(*, test_case: TestCase, workflow_code: str) -> _Planned:
    if test_case.scenario is not None:  # a conversation with a model: the playground's limit, quick or not
        timeout_s = settings.PLAYGROUND_TIMEOUT_S
    else:
        timeout_s = settings.SANDBOX_QUICK_TIMEOUT_S if test_case.quick_test else settings.SANDBOX_TIMEOUT_S
    return _Planned(test_case=test_case, workflow_code=workflow_code, timeout_s=timeout_s)


def _sandbox(planned: _Planned) -> SandboxResult:
    """Blocking; touches no database, so it can run in any thread."""
    with sandbox_slots():
        try:
            if planned.test_case.scenario is not None:
                return scenario_run(scenario=planned.test_case.scenario, workflow_code=planned.workflow_code)
            assert planned.test_case.test_code is not None
            return sandbox_run(
                workflow_code=planned.workflow_code,
                test_code=planned.test_case.test_code,
                timeout_s=planned.timeout_s,
                memory_mb=settings.SANDBOX_MEMORY_MB,
                startup_s=settings.SANDBOX_STARTUP_S,
            )
        except sandbox.SandboxUnavailable as exc:  # a 503 with the reason
            raise SandboxUnavailable(str(exc)) from exc


def _test_run_record(*, planned: _Planned, diff: Diff | None, result: SandboxResult) -> TestRun:
    """Store the result and broadcast `test_completed` once it is committed."""
    test_case = planned.test_case
    with transaction.atomic():
        # The run took seconds: the test (or the diff) may have been deleted meanwhile. Locked in the one
        # order (vibegrapher/locks.py): the project (its event counter), the diff, then the test; a commit
        # of the same diff locks the project and then the diff, so the two never deadlock.
        _, diff_found = rows_lock(project_id=test_case.project_id, diff_id=diff.pk if diff is not None else None)
        if diff is not None and not diff_found:
            raise NotFound(f"Diff {diff.id} was deleted while its tests ran.")
        if not TestCase.objects.select_for_update().filter(pk=test_case.pk).exists():
            raise NotFound(f"Test {test_case.id} was deleted while it ran.")
        run = TestRun.objects.create(
            test_case=test_case,
            test_name=test_case.name,
            diff=diff,
            fingerprint=planned.fingerprint,
            status=result.status,
            output=result.output,
            error=result.error,
            execution_time_ms=result.execution_time_ms,
        )
        events.event_publish(
            project_id=test_case.project_id,
            event_type=events.TEST_COMPLETED,
            data=events.test_completed_data(
                diff_id=run.diff_id, test_id=test_case.id, test_name=run.test_name, status=run.status, output=run.output
            ),
        )
    return run


def test_case_run(*, test_case: TestCase) -> TestRun:
    """Run one test against the workflow at main's head (read from git) and store the TestRun.

    Always runs (an explicit request; no cache) and broadcasts `test_completed` with `diff_id` null.
    """
    head = repository.repository_head(path=repository.repository_path(slug=test_case.project.slug))
    planned = _plan(test_case=test_case, workflow_code=head.code)
    return _test_run_record(planned=planned, diff=None, result=_sandbox(planned))


def _diff_test_cases(*, diff: Diff, test_ids: list[UUID | str] | None) -> list[TestCase]:
    if test_ids is None:
        return list(TestCase.objects.filter(project_id=diff.project_id, quick_test=True).order_by("created_at"))
    if not test_ids:
        raise InvalidInput(
            "test_ids is empty: give the ids of the tests to run, or leave it out to run the quick tests.",
            errors={"test_ids": ["Give at least one test id, or leave it out."]},
        )
    wanted: list[str] = list(dict.fromkeys(str(test_id) for test_id in test_ids))
    found = {str(tc.id): tc for tc in TestCase.objects.filter(project_id=diff.project_id, pk__in=wanted)}
    missing = [test_id for test_id in wanted if test_id not in found]
    if missing:
        raise InvalidInput(
            f"Not tests of this diff's project: {', '.join(missing)}.",
            errors={"test_ids": [f"Unknown test id {test_id}." for test_id in missing]},
        )
    return [found[test_id] for test_id in wanted]


def _cached_runs(*, diff: Diff, plans: list[_Planned]) -> dict[UUID, TestRun]:
    """The latest run of each test on this diff with the same fingerprint.

    Timeouts are never reused: they depend on how busy the machine was, not only on the code.
    """
    wanted = {(p.test_case.id, p.fingerprint) for p in plans}
    runs = (
        TestRun.objects.filter(diff=diff, fingerprint__in={fingerprint for _, fingerprint in wanted})
        .exclude(status=TestRun.Status.TIMEOUT)
        .order_by("created_at")
    )
    return {run.test_case_id: run for run in runs if (run.test_case_id, run.fingerprint) in wanted}


def _run_all(*, diff: Diff, plans: list[_Planned]) -> dict[UUID, TestRun]:
    """Run the tests concurrently; store and broadcast each as it finishes (in this thread: the
    sandbox workers never touch the database)."""
    runs: dict[UUID, TestRun] = {}
    if not plans:
        return runs
    pool = ThreadPoolExecutor(
        max_workers=min(len(plans), max(1, settings.SANDBOX_CONCURRENCY)), thread_name_prefix="sandbox"
    )
    try:
        futures: dict[Future[SandboxResult], _Planned] = {pool.submit(_sandbox, p): p for p in plans}
        for future in as_completed(futures):
            planned = futures[future]
            runs[planned.test_case.id] = _test_run_record(planned=planned, diff=diff, result=future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return runs


def _summary(run: TestRun) -> dict[str, Any]:
    return {
        "test_id": str(run.test_case_id),
        "test_name": run.test_name,
        "status": run.status,
        "error": run.error,
        "execution_time_ms": run.execution_time_ms,
        "test_run_id": str(run.id),
    }


def diff_run_tests(*, diff: Diff, test_ids: list[UUID | str] | None = None) -> dict[str, Any]:
    """Run tests against the workflow as the diff leaves it (`diff.new_code`), whatever the diff's status.

    `test_ids` None means the project's quick tests; ids that are not tests of the diff's project are a 400.
    A test whose code, the diff's code and limits are unchanged since its last (non-timeout) run on this
    diff is not rerun: that TestRun is reused, and no event is sent for it. Tests that do run are broadcast
    as `test_completed` one by one as they finish. The diff keeps this call's results in `test_results`
    (with `tests_run_at`). Blocking: up to SANDBOX_TIMEOUT_S per test, SANDBOX_CONCURRENCY at a time.

    Returns `{diff_id, total, passed, failed, cached, results}` where `failed` counts every result that did
    not pass (failed, error, timeout) and `cached` is true when every result came from the cache.
    """
    test_cases = _diff_test_cases(diff=diff, test_ids=test_ids)
    plans = [_plan(test_case=tc, workflow_code=diff.new_code) for tc in test_cases]
    runs = _cached_runs(diff=diff, plans=plans)
    to_run = [p for p in plans if p.test_case.id not in runs]
    runs.update(_run_all(diff=diff, plans=to_run))
    results = [runs[tc.id] for tc in test_cases]

    test_results = [_summary(run) for run in results]
    tests_run_at = timezone.now()
    updated = Diff.objects.filter(pk=diff.pk).update(
        test_results=test_results, tests_run_at=tests_run_at, updated_at=tests_run_at
    )
    if not updated:
        raise NotFound(f"Diff {diff.id} was deleted while its tests ran.")
    diff.test_results, diff.tests_run_at, diff.updated_at = test_results, tests_run_at, tests_run_at

    passed = sum(run.status == TestRun.Status.PASSED for run in results)
    return {
        "diff_id": diff.id,
        "total": len(results),
        "passed": passed,
        "failed": len(results) - passed,
        "cached": bool(results) and not to_run,
        "results": results,
    }
