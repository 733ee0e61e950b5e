"""Schema fuzzing: schemathesis generates requests from the served OpenAPI schema and checks every answer.

Every operation of `GET /schema` gets examples, coverage cases (boundary and invalid values) and random
(positive and negative) requests against the real ASGI application and a real database. Path ids point at
seeded objects most of the time (a project with its git repository, a session, a message, a diff in the
state the operation needs, a test case), so the fuzzer reaches the service code and not only the 404s.
The model provider is the model double, so `POST /sessions/:id/messages` and `refine-message` really run.

Then a stateful phase: schemathesis's state machine walks the schema's OpenAPI links (create a project, open
a session in it, send a message, review and commit the diff, ...), so later requests use ids earlier answers
gave.

Checks: every check schemathesis has (`--checks all`: no 5xx, documented statuses, content types and bodies,
schema-valid data accepted and schema-invalid data rejected, missing headers, unsupported methods, resources
usable after creation and gone after deletion, ...), with the settings of `schemathesis.toml`, plus
`data_dependent_400s` below.
"""

import os
import time
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err

from diffs.models import Diff
from diffs.services import diff_approve, diff_create_proposed
from projects.models import Project
from projects.services import project_create
from sessions.messages import message_record
from sessions.models import ConversationMessage, VibecodeRun, VibecodeSession
from sessions.services import session_get_or_create
from sessions.vibecoder.patching import unified_diff
from testcases import sandbox
from testcases import services as testcase_services
from testcases.models import TestCase as WorkflowTest
from vibegrapher.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

# Random requests per operation, on top of the explicit and coverage cases schemathesis adds itself.
MAX_EXAMPLES = 30
# Stateful phase: this many scenarios of up to this many linked calls each.
STATEFUL_SCENARIOS = 120
STATEFUL_STEPS = 12
MIN_TOTAL_REQUESTS = 2000
# Sandbox runs start a Python process each; on a loaded CI machine that can take seconds.
REQUEST_TIMEOUT_S = 60
# One generated id in this many is sent as generated (mostly unknown ids: the 404 paths); the rest hit seeds.
KEEP_GENERATED_ID_ONE_IN = 5


@dataclass
class Seeds:
    """Real objects for the fuzzer to aim at, recreated whenever a request deleted or used them up."""

    project: Project | None = None
    session: VibecodeSession | None = None
    message: ConversationMessage | None = None
    waiting_diff: Diff | None = None
    approved_diff: Diff | None = None
    test_case: WorkflowTest | None = None
    created: Counter = field(default_factory=Counter)
    edits: int = 0

    def ids(self, diff_state: str) -> dict[str, str]:
        self._ensure()
        diff = self.approved_diff if diff_state == Diff.Status.HUMAN_APPROVED else self.waiting_diff
        assert self.project is not None and self.session is not None and self.message is not None
        assert diff is not None and self.test_case is not None
        return {
            "project_id": str(self.project.id),
            "session_id": str(self.session.id),
            "message_id": str(self.message.id),
            "diff_id": str(diff.id),
            "test_id": str(self.test_case.id),
        }

    def _ensure(self) -> None:
        if self.project is None or not Project.objects.filter(pk=self.project.pk).exists():
            self.project = project_create(name="Fuzz target")
            self.session = self.message = self.waiting_diff = self.approved_diff = self.test_case = None
            self.created["project"] += 1
        self.project.refresh_from_db()
        if self.session is None or not VibecodeSession.objects.filter(pk=self.session.pk).exists():
            self.session, _ = session_get_or_create(project=self.project, session_type=None, node_id=None)
            self.message = self.waiting_diff = self.approved_diff = None
            self.created["session"] += 1
        if self.message is None or not ConversationMessage.objects.filter(pk=self.message.pk).exists():
            self.message = message_record(
                session_id=self.session.id, project_id=self.project.id, role="user", agent="user", content="Seeded"
            )
            self.created["message"] += 1
        if not self._diff_in(self.waiting_diff, Diff.Status.EVALUATOR_APPROVED):
            self.waiting_diff = self._new_diff()
        if not self._diff_in(self.approved_diff, Diff.Status.HUMAN_APPROVED):
            self.approved_diff = diff_approve(diff=self._new_diff())
        if self.test_case is None or not WorkflowTest.objects.filter(pk=self.test_case.pk).exists():
            self.test_case = testcase_services.test_case_create(
                project=self.project, name="cheap", test_code="assert 1 + 1 == 2\n", quick_test=True
            )
            self.created["test_case"] += 1

    @staticmethod
    def _diff_in(diff: Diff | None, status: str) -> bool:
        return diff is not None and Diff.objects.filter(pk=diff.pk, status=status).exists()

    def _new_diff(self) -> Diff:
        assert self.project is not None and self.session is not None, "made by _ensure first"
        self.edits += 1
        self.created["diff"] += 1
        old = self.project.current_code
        new = f"{old}# fuzz edit {self.edits}\n"
        return diff_create_proposed(
            session_id=self.session.id,
            project_id=self.project.id,
            base_commit=self.project.current_commit,
            diff_content=unified_diff(old=old, new=new),
            new_code=new,
            vibecoder_prompt=f"Add fuzz edit {self.edits}",
            evaluator_reasoning="Seeded for the fuzzer.",
            commit_message=f"Fuzz edit {self.edits}",
            messages=[],
        )


@dataclass
class Tally:
    by_operation: defaultdict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    by_phase: Counter = field(default_factory=Counter)
    by_check: defaultdict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    seeded: Counter = field(default_factory=Counter)


def _wait_for_runs(timeout: float = 60.0) -> None:
    """Runs started by the fuzzer (respond-async, rejections) finish before the database is flushed."""
    deadline = time.monotonic() + timeout
    while VibecodeRun.objects.filter(status__in=VibecodeRun.ACTIVE).exists():
        assert time.monotonic() < deadline, "vibecode runs started by the fuzzer did not finish"
        time.sleep(0.1)


# Loaded at collection: one test per operation, named after it. The schema view needs no database.
CONFIG = SchemathesisConfig.from_path(Path(__file__).resolve().parent.parent / "schemathesis.toml")
schema = schemathesis.openapi.from_asgi("/schema?format=json", application, config=CONFIG)
TALLY = Tally()

# Where schemathesis.toml lets positive_data_acceptance take a 400: the fields such a 400 may name.
DATA_DEPENDENT_400 = {
    "POST /projects": {"name", "code"},  # a name with nothing to slugify, code that does not compile
    "POST /projects/{project_id}/sessions": {"node_id"},  # not an agent of this project's workflow
    "POST /diffs/{diff_id}/test": {"test_ids"},  # not tests of this diff's project
    "POST /projects/{project_id}/playground": {"diff_id", "agent"},  # another project's diff, not an agent
}


@schemathesis.check
def data_dependent_400s(ctx, response, case) -> bool | None:
    """A schema-valid request answered 400 only where the reason is data the schema cannot state, and the
    answer names that field alone."""
    if response.status_code != 400 or case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    fields = DATA_DEPENDENT_400.get(case.operation.label)
    errors = response.json().get("errors") or {}
    assert fields is not None, f"{case.operation.label}: a schema-valid request was answered 400: {response.text}"
    assert errors and set(errors) <= fields, f"expected a 400 naming only {sorted(fields)}, got {response.text}"
    return None


load_all_checks()
CHECK_NAMES = sorted(check.__name__ for check in REGISTERED_CHECKS.get_all())


@schema.hook
def after_validate(context, case, response, results) -> None:
    """Counts every generated request by phase, operation and status, and every check that ran on it."""
    if case.meta is None:  # built by hand below, not generated
        return
    TALLY.by_phase[case.meta.phase.name.value] += 1
    TALLY.by_operation[case.operation.label][response.status_code] += 1
    for result in results:
        TALLY.by_check[result.name][result.status.name.lower()] += 1


@pytest.fixture
def fuzz_target(provider, settings, monkeypatch) -> Iterator[Seeds]:
    """Seeded objects, the model double as provider, and no run left behind for the next test."""
    settings.VIBECODE_RATE = ""  # the throttle would turn most vibecode requests into 429s
    settings.VIBEGRAPHER_API_TOKEN = ""  # the token's 401s are checked on their own, below
    # Sandbox runs stay real, but skip importing the Agents SDK up front (seconds per run on a busy
    # machine); the seeded test does not import the workflow, so nothing needs it.
    monkeypatch.setattr(sandbox, "PRELOAD", ())
    yield Seeds(created=TALLY.seeded)
    _wait_for_runs()


def _aimed(value: object) -> bool:
    # Decided by the generated value itself, so a failing case replays the same way when shrunk.
    return bool(zlib.crc32(repr(value).encode()) % KEEP_GENERATED_ID_ONE_IN)


def _aim_at_seeds(case, seeds: Seeds) -> None:
    if not case.path_parameters:
        return
    diff_state = Diff.Status.HUMAN_APPROVED if case.path.endswith("/commit") else Diff.Status.EVALUATOR_APPROVED
    ids = seeds.ids(diff_state)
    for name, value in list(case.path_parameters.items()):
        if name in ids and _aimed(value):
            case.path_parameters[name] = ids[name]
    # A revert of main's head: 409 while it is the initial commit, a real revert after a fuzzed commit.
    if isinstance(case.body, dict) and isinstance(case.body.get("commit_sha"), str) and _aimed(case.body):
        assert seeds.project is not None  # seeds.ids() made it
        case.body["commit_sha"] = seeds.project.current_commit


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    # In CI the same cases every time, so a landing is never decided by a new random draw; locally each run
    # draws new ones and may find what CI's set does not.
    derandomize=bool(os.environ.get("CI")),
)
def test_api_answers_as_documented(case, fuzz_target):
    _aim_at_seeds(case, fuzz_target)
    case.call_and_validate(timeout=REQUEST_TIMEOUT_S)


class ApiWalk(schema.as_state_machine()):  # type: ignore[misc]
    """The stateful phase: chains of calls along the schema's links, every answer checked as above.

    Every failed check is kept in `failures` as it happens: Hypothesis may end a run with a Flaky error when
    it replays a scenario against a service whose state has moved on, and that must not hide one."""

    failures: list[str] = []
    scenarios = 0

    def get_call_kwargs(self, case) -> dict:
        return {"timeout": REQUEST_TIMEOUT_S}

    def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
        try:
            super().validate_response(response, case, additional_checks=additional_checks, **kwargs)
        except FailureGroup as exc:
            ApiWalk.failures.append(f"{exc}\n{case.as_curl_command()}")
            raise

    def teardown(self) -> None:
        ApiWalk.scenarios += 1
        super().teardown()


def test_api_follows_its_links_as_documented(fuzz_target):
    ApiWalk.failures, ApiWalk.scenarios = [], 0
    inconsistent = 0
    while ApiWalk.scenarios < STATEFUL_SCENARIOS and inconsistent < 5:
        settings = hypothesis.settings(
            max_examples=STATEFUL_SCENARIOS - ApiWalk.scenarios,
            stateful_step_count=STATEFUL_STEPS,
            # No shrinking: a shrunk scenario replays against a database the first run has changed.
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        try:
            ApiWalk.run(settings=settings)
        except FlakyStrategyDefinition:
            # A replayed scenario prefix met other service state (new ids, a finished run) and so drew
            # other steps; like `schemathesis run`, go on with fresh scenarios. Failed checks are kept above.
            inconsistent += 1
    print(f"stateful: {ApiWalk.scenarios} scenarios, {inconsistent} ended early on inconsistent replays")
    assert not ApiWalk.failures, "\n\n".join(ApiWalk.failures)
    assert ApiWalk.scenarios >= STATEFUL_SCENARIOS // 2, f"only {ApiWalk.scenarios} stateful scenarios ran"


def test_with_a_token_configured_every_operation_documents_its_401(settings):
    """A deployment with VIBEGRAPHER_API_TOKEN answers 401 to a request without it, on every operation but
    /health; the schema must say so, and say the token is optional otherwise."""
    settings.VIBEGRAPHER_API_TOKEN = "s3cret-token"
    answered: Counter[int] = Counter()
    for operation in _operations():
        case = operation.Case(path_parameters={name: str(uuid.uuid4()) for name in _path_names(operation)})
        response = case.call(timeout=REQUEST_TIMEOUT_S)
        answered[response.status_code] += 1
        if operation.path == "/health":
            assert response.status_code == 200
            continue
        assert response.status_code == 401, f"{operation.label} -> {response.status_code}"
        case.validate_response(response)
        security = operation.definition.raw.get("security")
        assert {"apiToken": []} in security and {} in security, f"{operation.label}: security {security}"
    print("without the token:", dict(answered))


def _operations() -> list[schemathesis.APIOperation]:
    """Every operation in the schema; one that schemathesis cannot read fails the test with its error."""
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations.append(result.ok())
    return operations


def _path_names(operation) -> list[str]:
    return [parameter.name for parameter in operation.path_parameters]


def test_fuzzer_sent_at_least_2000_requests(capsys):
    operations = [operation.label for operation in _operations()]
    missing = [label for label in operations if label not in TALLY.by_operation]
    if missing or "stateful" not in TALLY.by_phase:
        pytest.skip(f"only part of the fuzz run was selected; not fuzzed: {', '.join(missing) or 'stateful phase'}")
    total = sum(TALLY.by_phase.values())
    with capsys.disabled():  # the counts belong in every CI log, not only when output is shown
        print(f"\nschemathesis: {total} generated requests over {len(operations)} operations, 0 failures")
        print("  by phase:", dict(sorted(TALLY.by_phase.items())))
        print(f"  checks ({len(CHECK_NAMES)} registered, all on): times each ran and passed")
        for name in CHECK_NAMES:
            print(f"  {sum(TALLY.by_check[name].values()):6d}  {name}  {dict(TALLY.by_check[name])}")
        print("  by operation (status: count):")
        for label, statuses in sorted(TALLY.by_operation.items()):
            print(f"  {sum(statuses.values()):6d}  {label:45s} {dict(sorted(statuses.items()))}")
        print("  seeded objects:", dict(TALLY.seeded))
    assert total >= MIN_TOTAL_REQUESTS, f"expected at least {MIN_TOTAL_REQUESTS} generated requests, got {total}"
