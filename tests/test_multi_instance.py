"""Two daphne instances sharing only PostgreSQL and Redis serve one project.

A WebSocket client of instance A sees every event of a vibecode run started through instance B
(executed by B itself, or by a separate `vibecode_worker` process, which is told of the queued run
and tells B of its end), a client reconnecting to A with `?after=<seq>` is given exactly what it
missed, and both instances answer REST reads alike.

Needs the production shape: the test database on PostgreSQL (DATABASE_URL=postgresql://...) and
REDIS_URL pointing at a running Redis; skipped otherwise, with the reason.
"""

import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
import websockets
from asgiref.sync import sync_to_async
from django.db import connection

from model_double.script import evaluation, patch
from projects.services import project_create
from sessions.models import VibecodeRun
from sessions.tests.test_vibecode_flow import PATCH
from tests.processes import start_web, start_worker, stop

# Three server processes start per test; on a loaded 2-core machine that alone can take a minute.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.timeout(300)]

EXPECTED_EVENTS = [
    ("conversation_message", "user"),
    ("conversation_message", "vibecoder"),
    ("token_usage", None),
    ("conversation_message", "evaluator"),
    ("token_usage", None),
    ("diff_created", None),
    ("vibecode_response", None),
]


@pytest.fixture
def redis_url() -> str:
    if connection.vendor != "postgresql":
        pytest.skip(f"needs the test database on PostgreSQL (DATABASE_URL=postgresql://...); it is {connection.vendor}")
    # The servers this test starts use Redis; the test process itself may keep the in-memory layer.
    url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL", "")
    if not url:
        pytest.skip(
            "needs TEST_REDIS_URL or REDIS_URL (e.g. redis://127.0.0.1:6379/0) for the layer both instances share"
        )
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"REDIS_URL={url} does not answer PING: {exc}")
    return url


@pytest.fixture(params=["inline", "worker"])
def instances(request, transactional_db, provider, redis_url, tmp_path):
    """(A's URL, B's URL, pid of the process that must execute runs): two daphne instances, plus a
    worker process when runs execute in one."""
    executor = request.param
    env = {
        "REDIS_URL": redis_url,
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": provider.base_url,
        "VIBECODE_EXECUTOR": executor,
        "RUN_REAPER_ENABLED": "0",
        # Web processes waiting for a run executed elsewhere learn of its end from the worker's message.
        "RUN_WAIT_POLL_S": "600",
    }
    processes = []
    try:
        with ThreadPoolExecutor(2) as pool:
            started = list(pool.map(lambda name: start_web(tmp_path / f"web-{name}.log", **env), "AB"))
        processes += [process for process, _ in started]
        executing = started[1][0]
        if executor == "worker":
            # Polls so rarely that only being told of a queued run can start it within the test.
            executing = start_worker(
                tmp_path / "worker.log", poll=600, **{k: v for k, v in env.items() if k != "VIBECODE_EXECUTOR"}
            )
            processes.append(executing)
        yield started[0][1], started[1][1], executing.pid
    finally:
        for process in processes:
            stop(process)
        for log in sorted(tmp_path.glob("*.log")):
            print(f"--- {log.name} (last 1500 characters)\n{log.read_text()[-1500:]}")


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


async def receive_event(socket, timeout: float) -> dict:
    """The next event other than a heartbeat."""
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), timeout))
        if message["type"] != "heartbeat":
            return message


async def receive_until(socket, event_type: str, timeout: float = 30.0) -> list[dict]:
    """The stored events up to `event_type`; streamed `message_delta`s (not stored, no seq) are left out."""
    received: list[dict] = []
    while not received or received[-1]["type"] != event_type:
        event = await receive_event(socket, timeout)
        if event["type"] != "message_delta":
            received.append(event)
    return received


def shape(events: list[dict]) -> list[tuple[str, str | None]]:
    return [(e["type"], e["data"].get("agent") if e["type"] == "conversation_message" else None) for e in events]


async def test_client_of_instance_a_receives_every_event_of_a_run_started_through_b(instances, provider):
    a_url, b_url, executor_pid = instances
    project = await sync_to_async(project_create)(name="Two Instances")
    provider.script(
        patch(PATCH, "Make the assistant a pirate", usage=(120, 30), match="vibecoder"),
        evaluation(
            True, "Does what was asked.", "Make the assistant speak like a pirate", usage=(200, 40), match="evaluator"
        ),
    )

    async with (
        websockets.connect(ws_url(a_url, f"/ws/projects/{project.id}?after=latest")) as on_a,
        websockets.connect(ws_url(b_url, f"/ws/projects/{project.id}?after=latest")) as on_b,
        httpx.AsyncClient(timeout=60) as http,
    ):
        for socket in (on_a, on_b):
            assert (await receive_event(socket, 10))["type"] == "subscribed"
        # Idle for longer than channels_redis's blocking 5 s read: the sockets must stay open.
        await asyncio.sleep(6)
        session = (await http.post(f"{b_url}/projects/{project.id}/sessions", json={})).json()
        started = time.monotonic()
        response = await http.post(
            f"{b_url}/sessions/{session['id']}/messages", json={"prompt": "Make it talk like a pirate"}
        )
        elapsed = time.monotonic() - started
        body = response.json()
        print(
            "POST",
            f"{b_url}/sessions/:id/messages ->",
            response.status_code,
            body["status"],
            f"in {elapsed:.2f} s,",
            "token_usage:",
            body.get("token_usage"),
        )
        # Worker and web processes look at the database only every 600 s here: the run started and its
        # result reached the waiting request because each was told through the channel layer.
        assert elapsed < 30, f"the run took {elapsed:.1f} s; expected seconds (queued/finished messages)"
        assert response.status_code == 200, body
        assert body["status"] == "pending_human_review"

        events_a = await receive_until(on_a, "vibecode_response")
        events_b = await receive_until(on_b, "vibecode_response")

    print("events on A:", [(e["seq"], e["type"]) for e in events_a])
    assert shape(events_a) == EXPECTED_EVENTS
    seqs = [e["seq"] for e in events_a]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f"seq must increase: {seqs}"
    assert events_b == events_a, "both instances deliver the same events"
    assert events_a[-1]["data"] == body, "vibecode_response carries the HTTP result"
    assert events_a[5]["data"]["diff_id"] == body["diff_id"]

    # Reconnecting to A after the first event: exactly the missed ones, replayed from the shared database.
    async with websockets.connect(ws_url(a_url, f"/ws/projects/{project.id}?after={seqs[0]}")) as again:
        assert (await receive_event(again, 10))["type"] == "subscribed"
        replayed = [await receive_event(again, 10) for _ in events_a[1:]]
        with pytest.raises(TimeoutError):
            extra = await receive_event(again, 0.5)
            pytest.fail(f"nothing else was missed, but A sent {extra}")
    assert replayed == events_a[1:]

    # Both instances read the same database.
    async with httpx.AsyncClient(timeout=30) as http:
        on_each = [(await http.get(f"{url}/sessions/{session['id']}/messages")).json() for url in (a_url, b_url)]
        diffs = [(await http.get(f"{url}/diffs/{body['diff_id']}")).json() for url in (a_url, b_url)]
    assert on_each[0] == on_each[1]
    assert [(m["agent"], m["sequence"]) for m in on_each[0]] == [("user", 1), ("vibecoder", 2), ("evaluator", 3)]
    assert [m["id"] for m in on_each[0]] == [e["data"]["id"] for e in events_a if e["type"] == "conversation_message"]
    assert diffs[0] == diffs[1] and diffs[0]["status"] == "evaluator_approved"

    run = await VibecodeRun.objects.aget(session_id=session["id"])
    # worker: "<instance>/<pid>-<process start>"
    assert run.worker.rsplit("/", 1)[1].split("-")[0] == str(executor_pid), (
        f"process {executor_pid} executes the run, not {run.worker}"
    )
