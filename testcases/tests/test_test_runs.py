"""Running tests in the sandbox through the API: POST /tests/:id/run and POST /diffs/:id/test."""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async

from diffs.services import diff_create_proposed
from projects.models import Project
from projects.services import project_create
from projects.starter_code import TRIAGE_WORKFLOW
from sessions.models import ProjectEvent
from sessions.services import session_get_or_create
from sessions.vibecoder.patching import unified_diff
from testcases import models  # not `import TestRun`: pytest would try to collect that class

pytestmark = pytest.mark.django_db(transaction=True)

RUN_FIELDS = {
    "id",
    "test_case_id",
    "test_name",
    "diff_id",
    "status",
    "output",
    "error",
    "execution_time_ms",
    "created_at",
}
GENERAL = "You answer general questions politely and concisely."
PIRATE = "You answer general questions like a pirate."
PIRATE_CODE = TRIAGE_WORKFLOW.replace(GENERAL, PIRATE)

HANDS_OFF = (
    "import workflow\n\n"
    "def test_triage_hands_off_to_three_specialists():\n"
    "    names = [agent.name for agent in workflow.triage_agent.handoffs]\n"
    "    print('handoffs:', names)\n"
    "    assert names == ['Billing Agent', 'Technical Support Agent', 'General Agent']\n"
)
TALKS_LIKE_A_PIRATE = f"import workflow\n\nassert workflow.general_agent.instructions == {PIRATE!r}\n"
HAS_FOUR_AGENTS = "import workflow\nfrom agents import Agent\n\nassert sum(isinstance(v, Agent) for v in vars(workflow).values()) == 4\n"
BROKEN = "import workflow\n\nworkflow.no_such_agent.name\n"
SPINS = "import workflow\n\nwhile True:\n    pass\n"


@pytest.fixture
async def triage():
    return await sync_to_async(project_create)(name="Triage", code=TRIAGE_WORKFLOW)


@pytest.fixture
def short_timeout(settings):
    """Non-quick tests time out after 1.5 s here, so the timeout cases do not take 30 s."""
    settings.SANDBOX_TIMEOUT_S = 1.5


@sync_to_async
def make_diff(project: Project, new_code: str):
    session, _ = session_get_or_create(project=project, session_type=None, node_id=None)
    return diff_create_proposed(
        session_id=session.id,
        project_id=project.id,
        base_commit=project.current_commit,
        diff_content=unified_diff(old=project.current_code, new=new_code),
        new_code=new_code,
        vibecoder_prompt="Make the general agent talk like a pirate",
        evaluator_reasoning="Does what was asked.",
        commit_message="General agent talks like a pirate",
        messages=[],
    )


async def add_test(api, project, name: str, code: str, quick: bool = True) -> dict:
    response = await api.post(
        f"/projects/{project.id}/tests", json={"name": name, "test_code": code, "quick_test": quick}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def run_count(**filters) -> int:
    return await models.TestRun.objects.filter(**filters).acount()


# --- POST /tests/:id/run ---------------------------------------------------------------------------


async def test_run_answers_the_test_run_and_classifies_each_outcome(api, triage, short_timeout):
    passing = await add_test(api, triage, "hands off", HANDS_OFF)
    failing = await add_test(api, triage, "pirate", TALKS_LIKE_A_PIRATE)
    broken = await add_test(api, triage, "broken", BROKEN)
    spinning = await add_test(api, triage, "spins", SPINS, quick=False)

    # Four at once: they share the sandbox slots, and each gets its own clock once started up.
    responses = await asyncio.gather(*(api.post(f"/tests/{t['id']}/run") for t in (passing, failing, broken, spinning)))
    bodies = [response.json() for response in responses]
    for response, body in zip(responses, bodies, strict=True):
        print("POST /tests/:id/run ->", response.status_code, {k: body[k] for k in ("test_name", "status", "error")})
        assert response.status_code == 200
        assert set(body) == RUN_FIELDS
        assert body["diff_id"] is None
        assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
    ok, failed, error, timeout = bodies

    assert (ok["status"], ok["error"], ok["test_case_id"], ok["test_name"]) == (
        "passed",
        None,
        passing["id"],
        "hands off",
    )
    assert "handoffs: ['Billing Agent', 'Technical Support Agent', 'General Agent']" in ok["output"]
    assert ok["execution_time_ms"] < 5000  # `import agents` is start-up, not test time

    assert failed["status"] == "failed"
    assert failed["error"].startswith("AssertionError")
    assert "AssertionError" in failed["output"]

    assert error["status"] == "error"
    assert "AttributeError" in error["error"] and "no_such_agent" in error["error"]

    assert timeout["status"] == "timeout"
    assert timeout["error"] == "Timed out after 1.5 s"
    assert await run_count(test_case__project_id=triage.id, diff=None) == 4


async def test_a_test_printing_nul_characters_is_stored_and_answered(api, triage):
    # PostgreSQL text cannot hold NUL: the sandbox shows them as U+FFFD on every database.
    test = await add_test(api, triage, "nul", 'print("a\\x00b")\nassert False, "x\\x00y"\n')
    response = await api.post(f"/tests/{test['id']}/run")
    body = response.json()
    print("POST /tests/:id/run ->", response.status_code, {k: body.get(k) for k in ("status", "output", "error")})
    assert response.status_code == 200
    assert body["status"] == "failed"
    assert "a\ufffdb" in body["output"] and "x\ufffdy" in body["error"]
    stored = await models.TestRun.objects.aget(pk=body["id"])
    assert stored.output == body["output"]


async def test_run_tests_main_head_from_git_and_is_broadcast(api, triage, socket_factory):
    test = await add_test(api, triage, "hands off", HANDS_OFF)
    await Project.objects.filter(pk=triage.id).aupdate(current_code="raise SystemExit('stale copy')\n")
    socket = socket_factory(f"/ws/projects/{triage.id}")
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_until("subscribed")

    body = (await api.post(f"/tests/{test['id']}/run")).json()
    assert body["status"] == "passed", body
    event = await socket.receive_until("test_completed", timeout=30)
    assert event["data"] == {
        "diff_id": None,
        "test_id": test["id"],
        "test_name": "hands off",
        "status": "passed",
        "output": body["output"],
    }


async def test_run_of_an_unknown_test_is_404(api):
    for test_id in (uuid.uuid4(), "not-a-uuid"):
        response = await api.post(f"/tests/{test_id}/run")
        assert response.status_code == 404
        assert response.json()["detail"] in ("Not found.", "No TestCase matches the given query.")


# --- POST /diffs/:id/test --------------------------------------------------------------------------


async def test_diff_tests_see_the_diff_code(api, triage):
    pirate = await add_test(api, triage, "pirate", TALKS_LIKE_A_PIRATE)
    diff = await make_diff(triage, PIRATE_CODE)

    on_main = (await api.post(f"/tests/{pirate['id']}/run")).json()
    response = await api.post(f"/diffs/{diff.id}/test", json={})
    body = response.json()
    print("POST /diffs/:id/test ->", response.status_code, body)

    assert on_main["status"] == "failed"
    assert response.status_code == 200
    assert body["results"][0]["status"] == "passed", body
    assert body["results"][0]["diff_id"] == str(diff.id)


async def test_diff_tests_default_to_the_quick_tests_and_are_kept_on_the_diff(api, triage):
    quick = await add_test(api, triage, "hands off", HANDS_OFF, quick=True)
    failing = await add_test(api, triage, "still general", TALKS_LIKE_A_PIRATE.replace("==", "!="), quick=True)
    await add_test(api, triage, "slow", HAS_FOUR_AGENTS, quick=False)
    diff = await make_diff(triage, PIRATE_CODE)

    response = await api.post(f"/diffs/{diff.id}/test")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body) == {"diff_id", "total", "passed", "failed", "cached", "results"}
    assert (body["diff_id"], body["total"], body["passed"], body["failed"], body["cached"]) == (
        str(diff.id),
        2,
        1,
        1,
        False,
    )
    assert [r["test_case_id"] for r in body["results"]] == [quick["id"], failing["id"]]
    assert [r["status"] for r in body["results"]] == ["passed", "failed"]
    assert all(set(r) == RUN_FIELDS for r in body["results"])

    stored = (await api.get(f"/diffs/{diff.id}")).json()
    assert stored["tests_run_at"] is not None
    assert stored["test_results"] == [
        {
            "test_id": r["test_case_id"],
            "test_name": r["test_name"],
            "status": r["status"],
            "error": r["error"],
            "execution_time_ms": r["execution_time_ms"],
            "test_run_id": r["id"],
        }
        for r in body["results"]
    ]


async def test_diff_tests_run_the_chosen_tests(api, triage):
    quick = await add_test(api, triage, "hands off", HANDS_OFF, quick=True)
    slow = await add_test(api, triage, "four agents", HAS_FOUR_AGENTS, quick=False)
    diff = await make_diff(triage, PIRATE_CODE)

    body = (await api.post(f"/diffs/{diff.id}/test", json={"test_ids": [slow["id"]]})).json()
    assert [(r["test_case_id"], r["status"]) for r in body["results"]] == [(slow["id"], "passed")]
    assert (body["total"], body["passed"], body["failed"]) == (1, 1, 0)
    assert await run_count(test_case_id=quick["id"]) == 0

    # The diff keeps the latest call's results.
    stored = (await api.get(f"/diffs/{diff.id}")).json()
    assert [r["test_id"] for r in stored["test_results"]] == [slow["id"]]


async def test_unchanged_results_are_not_rerun_and_a_changed_test_is(api, triage):
    first = await add_test(api, triage, "hands off", HANDS_OFF)
    second = await add_test(api, triage, "pirate", TALKS_LIKE_A_PIRATE)
    diff = await make_diff(triage, PIRATE_CODE)

    fresh = (await api.post(f"/diffs/{diff.id}/test")).json()
    assert fresh["cached"] is False
    assert await run_count(diff_id=diff.id) == 2
    events = await ProjectEvent.objects.filter(project_id=triage.id, type="test_completed").acount()

    again = (await api.post(f"/diffs/{diff.id}/test")).json()
    assert again["cached"] is True
    assert [r["id"] for r in again["results"]] == [r["id"] for r in fresh["results"]]
    assert await run_count(diff_id=diff.id) == 2
    # Nothing ran, so nothing is announced.
    assert await ProjectEvent.objects.filter(project_id=triage.id, type="test_completed").acount() == events

    # Renaming does not change what is tested; changing the code does.
    await api.patch(f"/tests/{first['id']}", json={"name": "hands off to three"})
    assert (await api.post(f"/diffs/{diff.id}/test")).json()["cached"] is True
    await api.patch(f"/tests/{second['id']}", json={"test_code": TALKS_LIKE_A_PIRATE + "print('checked')\n"})
    changed = (await api.post(f"/diffs/{diff.id}/test")).json()
    assert changed["cached"] is False
    assert changed["results"][0]["id"] == fresh["results"][0]["id"]
    assert changed["results"][1]["id"] != fresh["results"][1]["id"]
    assert "checked" in changed["results"][1]["output"]
    assert await run_count(diff_id=diff.id) == 3


async def test_timeouts_are_not_reused(api, triage, short_timeout):
    spins = await add_test(api, triage, "spins", SPINS, quick=False)
    diff = await make_diff(triage, PIRATE_CODE)
    first = (await api.post(f"/diffs/{diff.id}/test", json={"test_ids": [spins["id"]]})).json()
    second = (await api.post(f"/diffs/{diff.id}/test", json={"test_ids": [spins["id"]]})).json()
    assert [r["status"] for r in first["results"] + second["results"]] == ["timeout", "timeout"]
    assert (first["cached"], second["cached"]) == (False, False)
    assert (first["failed"], second["failed"]) == (1, 1)


async def test_finished_diff_tests_reach_a_websocket(api, triage, socket_factory):
    tests = [
        await add_test(api, triage, "hands off", HANDS_OFF),
        await add_test(api, triage, "pirate", TALKS_LIKE_A_PIRATE),
    ]
    diff = await make_diff(triage, PIRATE_CODE)
    socket = socket_factory(f"/ws/projects/{triage.id}")
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_until("subscribed")

    body = (await api.post(f"/diffs/{diff.id}/test")).json()
    events = [await socket.receive_until("test_completed", timeout=30) for _ in tests]
    print("test_completed events:", [e["data"] for e in events])
    by_test = {e["data"]["test_id"]: e["data"] for e in events}
    assert set(by_test) == {t["id"] for t in tests}
    for result in body["results"]:
        data = by_test[result["test_case_id"]]
        assert data["diff_id"] == str(diff.id)
        assert (data["test_name"], data["status"], data["output"]) == (
            result["test_name"],
            result["status"],
            result["output"],
        )


async def test_tests_of_committed_or_rejected_diffs_may_run(api, triage):
    await add_test(api, triage, "pirate", TALKS_LIKE_A_PIRATE)
    diff = await make_diff(triage, PIRATE_CODE)
    review = await api.post(f"/diffs/{diff.id}/review", json={"approved": True})
    assert review.status_code == 200, review.text
    commit = await api.post(f"/diffs/{diff.id}/commit", json={})
    assert commit.status_code == 200, commit.text
    body = (await api.post(f"/diffs/{diff.id}/test")).json()
    assert [r["status"] for r in body["results"]] == ["passed"]


async def test_unknown_or_foreign_test_ids_are_400_naming_them(api, triage):
    other = await sync_to_async(project_create)(name="Other")
    foreign = await add_test(api, other, "theirs", HANDS_OFF)
    ours = await add_test(api, triage, "ours", HANDS_OFF)
    diff = await make_diff(triage, PIRATE_CODE)
    unknown = str(uuid.uuid4())

    response = await api.post(f"/diffs/{diff.id}/test", json={"test_ids": [ours["id"], unknown, foreign["id"]]})
    body = response.json()
    print("unknown test ids ->", response.status_code, body)
    assert response.status_code == 400
    assert unknown in body["detail"] and foreign["id"] in body["detail"]
    assert ours["id"] not in body["detail"]
    assert await run_count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"test_ids": ["not-a-uuid"]},
        {"test_ids": "all"},
        {"test_ids": []},
        [],
        {"test_ids": [{"id": 1}]},
        {"test_ids": [1]},  # an integer is not read as UUID(int=1)
        {"test_ids": [True]},
    ],
)
async def test_bad_bodies_are_400(api, triage, payload):
    diff = await make_diff(triage, PIRATE_CODE)
    response = await api.post(f"/diffs/{diff.id}/test", json=payload)
    print(f"POST /diffs/:id/test {payload} ->", response.status_code, response.text)
    assert response.status_code == 400, response.text
    assert response.json()["detail"]
    assert await run_count() == 0


async def test_malformed_json_is_400_big_body_413_and_unknown_diff_404(api, triage, settings):
    diff = await make_diff(triage, PIRATE_CODE)
    response = await api.post(f"/diffs/{diff.id}/test", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 400
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = await api.post(f"/diffs/{diff.id}/test", json={"test_ids": [str(uuid.uuid4()) for _ in range(50)]})
    assert response.status_code == 413
    for diff_id in (uuid.uuid4(), "nope"):
        response = await api.post(f"/diffs/{diff_id}/test", json={})
        assert response.status_code == 404
        assert response.json()["detail"] in ("Not found.", "No Diff matches the given query.")


async def test_a_project_without_quick_tests_runs_nothing(api, triage):
    diff = await make_diff(triage, PIRATE_CODE)
    body = (await api.post(f"/diffs/{diff.id}/test")).json()
    assert (body["total"], body["passed"], body["failed"], body["cached"], body["results"]) == (0, 0, 0, False, [])


async def test_health_reports_the_sandbox_isolation_in_force(api):
    body = (await api.get("/health")).json()
    assert body["sandbox_network_isolation"] is True
    assert body["sandbox"] == {
        "mode": "bubblewrap",
        "isolation": ["read-only-system", "private-tmp", "no-network", "pid-namespace", "scrubbed-env", "rlimits"],
        "available": True,
        "reason": None,
    }


async def test_without_bubblewrap_a_run_is_a_503_with_the_reason_and_stores_nothing(api, triage, settings):
    test = await add_test(api, triage, "hands off", HANDS_OFF)
    diff = await make_diff(triage, PIRATE_CODE)
    settings.SANDBOX_BWRAP = "/nonexistent/bwrap"
    for path in (f"/tests/{test['id']}/run", f"/diffs/{diff.id}/test"):
        response = await api.post(path)
        assert response.status_code == 503, response.text
        assert "/nonexistent/bwrap" in response.json()["detail"]
        assert "SANDBOX_ALLOW_WEAK" in response.json()["detail"]
    assert await run_count() == 0
    body = (await api.get("/health")).json()
    assert body["status"] == "ok"  # the rest of the service still works
    assert (body["sandbox"]["mode"], body["sandbox"]["isolation"], body["sandbox_network_isolation"]) == (
        "unavailable",
        [],
        False,
    )


async def test_with_sandbox_allow_weak_a_run_passes_and_health_says_weak(api, triage, settings):
    test = await add_test(api, triage, "hands off", HANDS_OFF)
    settings.SANDBOX_BWRAP = "/nonexistent/bwrap"
    settings.SANDBOX_ALLOW_WEAK = True
    response = await api.post(f"/tests/{test['id']}/run")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "passed"
    body = (await api.get("/health")).json()
    assert (body["sandbox"]["mode"], body["sandbox"]["isolation"]) == ("weak", ["scrubbed-env", "rlimits"])
