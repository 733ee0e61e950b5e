"""SQLite under concurrent writers: no "database is locked", and sequence numbers stay gapless.

Twenty writers start at the same instant and write what the service writes: projects (with their git
repositories), sessions (get-or-create of one key from every writer), messages in one session and events
of one project (both numbered by a per-row counter every writer contends on), and test cases. First as
twenty threads of this process, each with its own connection, then as twenty HTTP clients of two daphne
processes, which is how a deployment with a second web instance or a worker shares the file.

SQLite only (the suite also runs on PostgreSQL, where none of this can happen); skipped elsewhere.
"""

import asyncio
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection, connections

from projects.models import Project
from projects.services import project_create
from sessions import events
from sessions.messages import message_record
from sessions.models import ConversationMessage, ProjectEvent, VibecodeSession
from sessions.services import session_get_or_create
from testcases import services as testcase_services
from testcases.models import TestCase as WorkflowTest
from tests.processes import start_web, stop

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 20
ROUNDS = 5


@pytest.fixture(autouse=True)
def sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip(f"SQLite locking behaviour; the test database is {connection.vendor}")


def run_at_once(work: Callable[[int], None], writers: int = WRITERS) -> list[str]:
    """Run `work(writer)` in `writers` threads released together; returns the failures, as text."""
    barrier = threading.Barrier(writers)
    failures: list[str] = []

    def writer(number: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(number)
        except Exception:  # noqa: BLE001 - every failure is reported, with its traceback
            failures.append(f"writer {number}: {traceback.format_exc()}")
        finally:
            connections.close_all()  # each thread's own connection

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(writer, range(writers)))
    return failures


def assert_gapless(numbers: list[int], expected: int, what: str) -> None:
    duplicates = sorted(n for n, count in Counter(numbers).items() if count > 1)
    print(f"{what}: {len(numbers)} numbers, {len(set(numbers))} distinct, duplicates {duplicates[:10]}")
    assert not duplicates, f"{what}: numbers handed out twice: {duplicates[:10]}"
    assert sorted(numbers) == list(range(1, expected + 1)), f"{what}: expected 1..{expected} without gaps"


def test_the_sqlite_connection_is_configured_for_concurrent_writers():
    with connection.cursor() as cursor:
        pragmas = {}
        for name in ("journal_mode", "busy_timeout", "synchronous"):
            cursor.execute(f"PRAGMA {name}")
            pragmas[name] = cursor.fetchone()[0]
    # SQLite's DatabaseWrapper has it since Django 5.1; django-stubs does not declare it.
    transaction_mode = connection.transaction_mode  # type: ignore[attr-defined]
    print("PRAGMAs of a test connection:", pragmas, "transaction_mode:", transaction_mode)
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["busy_timeout"] >= 5000
    assert pragmas["synchronous"] == 1  # NORMAL: safe with WAL, no fsync per commit
    assert transaction_mode == "IMMEDIATE"


def test_twenty_threads_writing_at_once_never_see_database_is_locked():
    project = project_create(name="Contended")
    session, _ = session_get_or_create(project=project, session_type=None, node_id=None)
    events_before = Project.objects.get(pk=project.pk).event_seq
    created_sessions: list[bool] = []

    def work(writer: int) -> None:
        project_create(name=f"Writer {writer}")
        _, created = session_get_or_create(project=project, session_type="node", node_id="assistant_agent")
        created_sessions.append(created)
        for round_number in range(ROUNDS):
            message_record(
                session_id=session.id,
                project_id=project.id,
                role=ConversationMessage.Role.USER,
                agent=ConversationMessage.Agent.USER,
                content=f"writer {writer} round {round_number}",
            )
            events.event_publish(
                project_id=project.id, event_type="run_status", data={"writer": writer, "round": round_number}
            )
        testcase_services.test_case_create(project=project, name=f"test {writer}", test_code="assert True\n")

    started = time.monotonic()
    failures = run_at_once(work)
    print(
        f"{WRITERS} writers x ({ROUNDS} messages + {ROUNDS} events + 1 project + 1 session + 1 test) "
        f"in {time.monotonic() - started:.1f} s; failures: {len(failures)}"
    )
    assert not failures, "\n".join(failures)

    assert Project.objects.filter(name__startswith="Writer ").count() == WRITERS
    assert created_sessions.count(True) == 1, "one node session, created by exactly one writer"
    assert VibecodeSession.objects.filter(project=project).count() == 2
    assert WorkflowTest.objects.filter(project=project).count() == WRITERS

    sequences = list(ConversationMessage.objects.filter(session=session).values_list("sequence", flat=True))
    assert_gapless(sequences, WRITERS * ROUNDS, "message sequence")
    # Every message is broadcast as an event too: WRITERS * ROUNDS of each kind on top of what was there.
    seqs = list(ProjectEvent.objects.filter(project=project, seq__gt=events_before).values_list("seq", flat=True))
    assert_gapless([seq - events_before for seq in seqs], 2 * WRITERS * ROUNDS, "project event seq")
    assert Project.objects.get(pk=project.pk).event_seq == events_before + 2 * WRITERS * ROUNDS


@pytest.mark.timeout(300)
def test_twenty_http_clients_of_two_server_processes_never_see_database_is_locked(tmp_path):
    """Two daphne processes on one SQLite file: the writers are separate processes, as in a deployment."""
    servers = []
    try:
        with ThreadPoolExecutor(2) as pool:
            servers = list(pool.map(lambda name: start_web(tmp_path / f"web-{name}.log"), "AB"))
        urls = [url for _, url in servers]
        project = httpx.post(f"{urls[0]}/projects", json={"name": "Shared"}, timeout=60).json()
        answers = asyncio.run(_clients_at_once(urls, project["id"]))
    finally:
        for process, _ in servers:
            stop(process)
    logs = "\n".join((tmp_path / f"web-{name}.log").read_text() for name in "AB")

    statuses = Counter(status for status, _ in answers)
    print(f"{len(answers)} requests from {WRITERS} clients over 2 processes: {dict(statuses)}")
    errors = [(status, text) for status, text in answers if status >= 500]
    assert not errors, errors[:5]
    assert "database is locked" not in logs.lower(), logs[-3000:]
    assert set(statuses) <= {200, 201}, dict(statuses)
    assert Project.objects.filter(name__startswith="Client ").count() == WRITERS
    sessions = VibecodeSession.objects.filter(project_id=project["id"])
    assert sessions.count() == 2, "the global and the node session, each created once"
    assert WorkflowTest.objects.filter(project_id=project["id"]).count() == WRITERS * ROUNDS


async def _clients_at_once(urls: list[str], project_id: str) -> list[tuple[int, str]]:
    start = asyncio.Event()
    answers: list[tuple[int, str]] = []

    async def client(number: int) -> None:
        async with httpx.AsyncClient(base_url=urls[number % 2], timeout=120) as http:
            await start.wait()
            requests = [
                ("POST", "/projects", {"name": f"Client {number}"}),
                ("POST", f"/projects/{project_id}/sessions", {}),
                ("POST", f"/projects/{project_id}/sessions", {"node_id": "assistant_agent"}),
                *[
                    ("POST", f"/projects/{project_id}/tests", {"name": f"c{number} r{n}", "test_code": "assert 1\n"})
                    for n in range(ROUNDS)
                ],
            ]
            for method, path, body in requests:
                response = await http.request(method, path, json=body)
                answers.append((response.status_code, response.text[:300]))

    tasks = [asyncio.create_task(client(number)) for number in range(WRITERS)]
    await asyncio.sleep(0.2)  # every client is waiting at the start line
    start.set()
    await asyncio.gather(*tasks)
    return answers
