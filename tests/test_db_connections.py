"""vibegrapher.connections: after PostgreSQL closes connections (a restart), the service reconnects.

Closing a connection from the server side (`pg_terminate_backend`) is what a restart does to every
client; the tests do that to the connections they want to see replaced.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection, connections

from projects.models import Project
from projects.services import project_create
from tests.processes import start_web

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip(f"needs the test database on PostgreSQL (DATABASE_URL=postgresql://...); it is {connection.vendor}")
    yield
    _replace_if_closed()  # the test runner's own connection may be among those closed


@pytest.fixture(autouse=True)
async def shared_thread_connection_replaced():
    yield
    # So may the connection of the thread that async tests and fixtures query from.
    await sync_to_async(_replace_if_closed)()


def _replace_if_closed() -> None:
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _terminate(pids: list[int] | None = None) -> int:
    """Close server connections to the test database from the server side: these, or all others."""
    params = connection.get_connection_params()
    keys = ("host", "port", "user", "password", "dbname")
    with psycopg.connect(**{k: params[k] for k in keys if params.get(k)}, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            + (" AND pid = ANY(%s)" if pids is not None else ""),
            [pids] if pids is not None else [],
        ).fetchall()
    return len(rows)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


async def test_work_outside_requests_gets_a_new_connection_after_its_own_was_closed():
    """Runs, the reaper and sockets query from a thread that serves no request; its connection used
    to stay broken ("the connection is closed") for every later query."""
    await sync_to_async(project_create)(name="Before")
    pid = await sync_to_async(_backend_pid)()
    assert _terminate([pid]) == 1
    with pytest.raises(OperationalError) as cut:
        await sync_to_async(Project.objects.count)()  # the query that finds the connection gone
    print(f"backend {pid} terminated; the next query: {cut.value}")
    counts = [await sync_to_async(Project.objects.count)() for _ in range(3)]
    new_pid = await sync_to_async(_backend_pid)()
    print(f"then: counts {counts}, now on backend {new_pid}")
    assert counts == [1, 1, 1]
    assert new_pid != pid


def test_requests_get_a_live_connection_after_all_were_closed(tmp_path):
    """A server process whose pooled connections were all closed by the database keeps answering."""
    process, base = start_web(tmp_path / "web.log")
    try:
        with httpx.Client(base_url=base, timeout=30) as api:
            created = api.post("/projects", json={"name": "Pooled"})
            assert created.status_code == 201, created.text
            for _ in range(5):  # the pool's connections are used and returned
                assert api.get("/projects").status_code == 200
            closed = _terminate()
            answers = [api.get("/projects").status_code for _ in range(5)]
            answers += [api.get(f"/projects/{created.json()['id']}").status_code for _ in range(5)]
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"terminated {closed} server connections; then GET answers {answers}")
    assert closed >= 1
    assert answers == [200] * 10


def test_a_pool_whose_idle_connections_all_died_hands_out_a_live_one_at_once():
    """After a restart the pool's idle connections are all dead. The pool used to discard them one at
    a time, waiting 0, 1, 2, 4, 8, 16 s in between, so with six or more the first request got no
    connection within its 30 s timeout and failed."""
    pool = connection.pool  # type: ignore[attr-defined]  # PostgreSQL's, not in django-stubs
    taken = [pool.getconn() for _ in range(8)]  # as many requests at once: the pool keeps them after
    for conn in taken:
        pool.putconn(conn)
    idle = pool.get_stats()["pool_available"]
    closed = _terminate()

    def query() -> int:  # a request's thread: a connection from the pool, returned at the end
        try:
            return Project.objects.count()
        finally:
            connections.close_all()

    started = time.monotonic()
    with ThreadPoolExecutor(1) as thread:
        count = thread.submit(query).result()
    took = time.monotonic() - started
    print(f"{idle} idle connections, {closed} terminated; the next query answered {count} after {took:.2f} s")
    assert idle >= 8
    assert count == 0
