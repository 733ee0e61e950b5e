"""The quick-test gate: a proposed workflow runs the project's quick tests (and an import check) in the
sandbox before the evaluator is asked about it. A project without quick tests runs nothing.

The diff does not exist yet when the gate runs: its TestRuns are stored with `diff` null and attached
(and broadcast as `test_completed`) when the diff is created. A gate that fails broadcasts its runs at
once, with `diff_id` null, since no diff will follow for that patch.
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from diffs.models import Diff
from sessions import events
from testcases.models import TestCase, TestRun
from testcases.sandbox import SandboxResult
from testcases.services import _plan, _Planned, _sandbox, _summary

logger = logging.getLogger(__name__)

IMPORT_CHECK = "import check"

# The module imports and every Agent it defines was constructed (importing it constructs them).
_IMPORT_CHECK_CODE = """\
import workflow
from agents import Agent
agents = [value for value in vars(workflow).values() if isinstance(value, Agent)]
assert agents, "workflow.py defines no Agent"
"""

OUTPUT_CAP = 2_000


@dataclass
class GateOutcome:
    """What the gate found for one proposed workflow."""

    passed: bool
    # (name, status, error, capped output) per check, import check first.
    checks: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    run_ids: list[UUID] = field(default_factory=list)
    wall_ms: int = 0

    @property
    def failures(self) -> list[tuple[str, str, str | None, str]]:
        return [check for check in self.checks if check[1] != TestRun.Status.PASSED]

    @property
    def quick_test_count(self) -> int:
        return len(self.run_ids)


def gate_plans(*, project_id: UUID | str, workflow_code: str) -> list[_Planned]:
    """The project's quick tests, planned against the proposed code (database: call via sync_to_async)."""
    test_cases = TestCase.objects.filter(project_id=project_id, quick_test=True).order_by("created_at")
    return [_plan(test_case=tc, workflow_code=workflow_code) for tc in test_cases]


def gate_sandbox(*, workflow_code: str, plans: list[_Planned]) -> tuple[SandboxResult, list[SandboxResult]]:
    """Blocking, no database: the import check and every quick test, concurrently."""
    import_check = _Planned(
        test_case=TestCase(name=IMPORT_CHECK, test_code=_IMPORT_CHECK_CODE, quick_test=True),
        workflow_code=workflow_code,
        timeout_s=settings.SANDBOX_QUICK_TIMEOUT_S,
    )
    everything = [import_check, *plans]
    with ThreadPoolExecutor(max_workers=min(len(everything), max(1, settings.SANDBOX_CONCURRENCY))) as pool:
        results = list(pool.map(_sandbox, everything))
    return results[0], results[1:]


def gate_record(
    *, plans: list[_Planned], import_result: SandboxResult, results: list[SandboxResult], wall_ms: int
) -> GateOutcome:
    """Store each quick test's run (diff null); a failing gate broadcasts them now (database)."""
    outcome = GateOutcome(passed=True, wall_ms=wall_ms)
    outcome.checks.append((IMPORT_CHECK, import_result.status, import_result.error, import_result.output[-OUTPUT_CAP:]))
    runs = []
    with transaction.atomic():
        for planned, result in zip(plans, results, strict=True):
            run = TestRun.objects.create(
                test_case=planned.test_case,
                test_name=planned.test_case.name,
                diff=None,
                fingerprint=planned.fingerprint,
                status=result.status,
                output=result.output,
                error=result.error,
                execution_time_ms=result.execution_time_ms,
            )
            runs.append(run)
            outcome.run_ids.append(run.id)
            outcome.checks.append((run.test_name, run.status, run.error, run.output[-OUTPUT_CAP:]))
        outcome.passed = not outcome.failures
        if not outcome.passed:
            for run in runs:
                _broadcast(run)
    return outcome


def gate_attach(*, diff: Diff, run_ids: list[UUID]) -> None:
    """Link the gate's runs to the diff just created, cache them as its test results, and broadcast
    them as `test_completed`. Runs inside the diff's creating transaction."""
    runs = sorted(TestRun.objects.filter(pk__in=run_ids).select_related("test_case"), key=lambda r: r.created_at)
    TestRun.objects.filter(pk__in=run_ids).update(diff=diff)
    now = timezone.now()
    diff.test_results = [_summary(run) for run in runs]
    diff.tests_run_at = now
    Diff.objects.filter(pk=diff.pk).update(test_results=diff.test_results, tests_run_at=now)
    for run in runs:
        run.diff = diff
        _broadcast(run)


def _broadcast(run: TestRun) -> None:
    events.event_publish(
        project_id=run.test_case.project_id,
        event_type=events.TEST_COMPLETED,
        data=events.test_completed_data(
            diff_id=run.diff_id, test_id=run.test_case_id, test_name=run.test_name, status=run.status, output=run.output
        ),
    )


async def gate_run(*, project_id: UUID | str, workflow_code: str) -> GateOutcome:
    """The whole gate from async code: database through sync_to_async, the sandbox in a thread."""
    started = time.perf_counter()
    plans = await sync_to_async(gate_plans)(project_id=project_id, workflow_code=workflow_code)
    if not plans:
        # No quick tests: nothing runs (a sandbox start costs seconds), as before the gate existed.
        return GateOutcome(passed=True)
    import_result, results = await asyncio.to_thread(gate_sandbox, workflow_code=workflow_code, plans=plans)
    outcome = await sync_to_async(gate_record)(plans=plans, import_result=import_result, results=results, wall_ms=0)
    outcome.wall_ms = round((time.perf_counter() - started) * 1000)
    # bench/vibecode_bench.py reads this line for the gate's wall time per patch.
    logger.info(
        "quick-test gate: project=%s quick_tests=%d passed=%s wall_ms=%d",
        project_id,
        outcome.quick_test_count,
        outcome.passed,
        outcome.wall_ms,
    )
    return outcome


def gate_summary(outcome: GateOutcome | None) -> list[dict[str, Any]]:
    return [] if outcome is None else [{"name": n, "status": s} for n, s, _, _ in outcome.checks]
