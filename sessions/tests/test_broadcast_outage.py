"""Redis goes away during a run: each failed broadcast is logged with its project and seq, the sender
keeps running, and a client gets every event of the run once Redis is back (replay with `after`), and
later events live. Uses a throwaway redis-server of its own on a free port."""

import json
import shutil
import subprocess
import time

import httpx
import pytest
import redis
import websockets
from asgiref.sync import sync_to_async

from model_double.script import evaluation, patch
from projects.services import project_create
from sessions.tests.test_vibecode_flow import PATCH
from tests.processes import free_port, start_web, stop

REDIS_SERVER = shutil.which("redis-server")
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
    pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server (apt-get install redis-server)"),
]


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(REDIS_SERVER), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=1)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server on port {port} did not answer")


async def test_events_of_a_run_during_a_redis_outage_reach_the_client_once_it_is_back(provider, tmp_path):
    port = free_port()
    own_redis = start_redis(port)
    log = tmp_path / "web.log"
    web, base = start_web(
        log,
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        OPENAI_API_KEY="test",
        OPENAI_BASE_URL=provider.base_url,
        RUN_REAPER_ENABLED="0",
        VIBECODE_RATE="",  # the rate limit counts in Redis: it would refuse runs during the outage
    )
    try:
        project = await sync_to_async(project_create)(name="Outage")
        provider.script(
            patch(PATCH, "Make the assistant a pirate", usage=(120, 30), match="vibecoder"),
            evaluation(True, "Does what was asked.", "Pirate speak", usage=(200, 40), match="evaluator"),
        )
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            session = (await http.post(f"/projects/{project.id}/sessions", json={})).json()
            stop(own_redis)  # Redis is away for the whole run
            result = await http.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"})
            print(
                "run during the outage ->", result.status_code, result.json().get("status"), result.json().get("detail")
            )
            assert result.status_code == 200
            own_redis = start_redis(port)
            ws = base.replace("http://", "ws://")
            async with websockets.connect(f"{ws}/ws/projects/{project.id}?after=0") as socket:
                received = [json.loads(await socket.recv()) for _ in range(8)]
                # The sender survived: an event after the outage is broadcast live.
                review = await http.post(f"/diffs/{result.json()['diff_id']}/review", json={"approved": True})
                assert review.status_code == 200
                committed = await http.post(f"/diffs/{result.json()['diff_id']}/commit", json={})
                assert committed.status_code == 200
                live = json.loads(await socket.recv())
    finally:
        stop(web)
        stop(own_redis)
    names = [message["type"] for message in received]
    print("after the outage the client got:", names, "then live:", live["type"], live.get("seq"))
    assert names == [
        "subscribed",
        "conversation_message",
        "conversation_message",
        "token_usage",
        "conversation_message",
        "token_usage",
        "diff_created",
        "vibecode_response",
    ]
    assert [message["seq"] for message in received[1:]] == list(range(1, 8))
    assert live["type"] == "code_changed" and live["seq"] == 8
    failures = [line for line in log.read_text().splitlines() if "Could not broadcast" in line]
    print("logged:", failures[:2], f"({len(failures)} lines)")
    assert any("seq 7" in line and project.id.hex in line for line in failures)
