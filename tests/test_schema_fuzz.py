"""Schema fuzzing: schemathesis generates requests from the served OpenAPI schema and checks every answer.

Every operation of `GET /schema` gets examples, coverage cases (boundary and invalid values) and random
(positive and negative) requests against the real ASGI application and a real database. Path ids point at
seeded objects most of the time (a project with its git repository, a session, a message, a diff in the
state the operation needs, a test case), so the fuzzer reaches the service code and not only the 404s.
The model provider is the model double, so `POST /sessions/:id/messages` and `refine-message` really run.

Checks: no 5xx, every status documented, the documented content type, and the body matching the schema.
"""

import time
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Random requests per operation, on top of the explicit and coverage cases schemathesis adds itself.
MAX_EXAMPLES = 30
MIN_TOTAL_REQUESTS = 1000
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
    seeded: Counter = field(default_factory=Counter)


def _wait_for_runs(timeout: float = 60.0) -> None:
    """Runs started by the fuzzer (respond-async, rejections) finish before the database is flushed."""
    deadline = time.monotonic() + timeout
    while VibecodeRun.objects.filter(status__in=VibecodeRun.ACTIVE).exists():
        assert time.monotonic() < deadline, "vibecode runs started by the fuzzer did not finish"
        time.sleep(0.1)


# Loaded at collection: one test per operation, named after it. The schema view needs no database.
schema = schemathesis.openapi.from_asgi("/schema?format=json", application)
TALLY = Tally()


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
    max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck)
)
def test_api_answers_as_documented(case, fuzz_target):
    _aim_at_seeds(case, fuzz_target)
    response = case.call_and_validate(checks=CHECKS, timeout=REQUEST_TIMEOUT_S)
    TALLY.by_operation[case.operation.label][response.status_code] += 1


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
        case.validate_response(response, checks=CHECKS)
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


def test_fuzzer_sent_at_least_1000_requests(capsys):
    operations = [operation.label for operation in _operations()]
    missing = [label for label in operations if label not in TALLY.by_operation]
    if missing:
        pytest.skip(f"only part of the fuzz run was selected; not fuzzed: {', '.join(missing)}")
    total = sum(sum(statuses.values()) for statuses in TALLY.by_operation.values())
    with capsys.disabled():  # the count belongs in every CI log, not only when output is shown
        print(f"\nschemathesis: {total} generated requests over {len(operations)} operations (status: count)")
        for label, statuses in sorted(TALLY.by_operation.items()):
            print(f"  {sum(statuses.values()):5d}  {label:45s} {dict(sorted(statuses.items()))}")
        print("  seeded objects:", dict(TALLY.seeded))
    assert total >= MIN_TOTAL_REQUESTS, f"expected at least {MIN_TOTAL_REQUESTS} generated requests, got {total}"
