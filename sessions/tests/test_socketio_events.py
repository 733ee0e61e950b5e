"""Socket.IO clients (python-socketio's own client) against a real daphne process: subscribe, the events
of a run and a commit under the raw WebSocket's names and payloads, errors that keep the connection."""

import asyncio

import httpx
import pytest
import socketio
from asgiref.sync import sync_to_async

from model_double.script import evaluation, patch, text
from projects.services import project_create
from sessions.tests.test_vibecode_flow import PATCH
from tests.processes import start_web, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture
def server(transactional_db, provider, tmp_path):
    process, base_url = start_web(
        tmp_path / "web.log", OPENAI_API_KEY="test", OPENAI_BASE_URL=provider.base_url, RUN_REAPER_ENABLED="0"
    )
    yield base_url
    stop(process)


class Recorder:
    """A socketio.AsyncClient that records every event as (name, data, seq or None)."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: list[tuple[str, dict, int | None]] = []
        self.client.on("*", self._record)

    async def _record(self, name: str, data: dict, seq: int | None = None) -> None:
        self.received.append((name, data, seq))

    async def wait_for(self, name: str, timeout: float = 30) -> tuple[str, dict, int | None]:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.received:
                    if event[0] == name:
                        return event
                await asyncio.sleep(0.05)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_socketio_client_gets_the_events_of_a_run_and_a_commit(server, provider, transport):
    project = await sync_to_async(project_create)(name="Socket IO")
    provider.script(
        patch(PATCH, "Make the assistant a pirate", usage=(120, 30), match="vibecoder"),
        evaluation(True, "Does what was asked.", "Pirate speak", usage=(200, 40), match="evaluator"),
    )
    recorder = Recorder()
    await recorder.client.connect(server, transports=[transport])
    try:
        await recorder.client.emit("join_project", {"project_id": "not-a-uuid"})
        error = await recorder.wait_for("error")
        print("join_project not-a-uuid ->", error)
        assert error[1]["detail"]
        await recorder.client.emit("subscribe", {"project_id": str(project.id)})
        assert (await recorder.wait_for("subscribed"))[1] == {"project_id": str(project.id)}
        async with httpx.AsyncClient(base_url=server, timeout=60) as http:
            session = (await http.post(f"/projects/{project.id}/sessions", json={})).json()
            result = (await http.post(f"/sessions/{session['id']}/messages", json={"prompt": "Pirate"})).json()
            print("run ->", result["status"])
            await recorder.wait_for("vibecode_response")
            diff_id = result["diff_id"]
            assert (await http.post(f"/diffs/{diff_id}/review", json={"approved": True})).status_code == 200
            committed = (await http.post(f"/diffs/{diff_id}/commit", json={})).json()
            ws_events = (await http.get(f"/projects/{project.id}")).json()
        update = await recorder.wait_for("code_update")
    finally:
        await recorder.client.disconnect()
    names = [name for name, _, _ in recorder.received]
    print("received:", names)
    stored_names = [name for name in names[names.index("subscribed") + 1 :] if name != "message_delta"]
    assert stored_names == [
        "conversation_message",
        "conversation_message",
        "token_usage",
        "conversation_message",
        "token_usage",
        "diff_created",
        "vibecode_response",
        "code_changed",
        "code_update",
    ]
    stored = [
        seq or 0
        for name, _, seq in recorder.received
        if name not in ("subscribed", "error", "code_update", "message_delta")
    ]
    assert all(stored) and stored == list(range(stored[0], stored[0] + len(stored))), (
        "stored events come with consecutive seqs"
    )
    response = next(data for name, data, _ in recorder.received if name == "vibecode_response")
    assert response["status"] == "pending_human_review" and response["diff_id"] == diff_id
    changed = next(data for name, data, _ in recorder.received if name == "code_changed")
    assert changed["commit_sha"] == committed["committed_sha"]
    assert update[1] == {"content": ws_events["current_code"], "filename": "workflow.py"}
    # Streamed model output (unstored, no seq) arrives while a step is written, before its message.
    deltas = [(index, data) for index, (name, data, seq) in enumerate(recorder.received) if name == "message_delta"]
    assert deltas and all(seq is None for name, _, seq in recorder.received if name == "message_delta")
    first_step = next(
        i
        for i, (name, data, _) in enumerate(recorder.received)
        if name == "conversation_message" and data["agent"] == "vibecoder"
    )
    assert deltas[0][0] < first_step and deltas[0][1]["agent"] == "vibecoder"


async def test_project_id_in_the_query_subscribes_and_after_replays(server):
    project = await sync_to_async(project_create)(name="Query Join")
    recorder = Recorder()
    await recorder.client.connect(f"{server}?project_id={project.id}&after=0", transports=["websocket"])
    try:
        assert (await recorder.wait_for("subscribed"))[1] == {"project_id": str(project.id)}
        await recorder.client.emit("leave_project", {"project_id": str(project.id)})
        assert (await recorder.wait_for("unsubscribed"))[1] == {"project_id": str(project.id)}
    finally:
        await recorder.client.disconnect()


async def test_a_socketio_client_gets_heartbeats_with_its_project_and_connections(transactional_db, tmp_path):
    process, base_url = start_web(tmp_path / "web.log", HEARTBEAT_INTERVAL_S="0.3", RUN_REAPER_ENABLED="0")
    project = await sync_to_async(project_create)(name="Heartbeat IO")
    recorder = Recorder()
    try:
        await recorder.client.connect(base_url, transports=["websocket"])
        await recorder.client.emit("subscribe", {"project_id": str(project.id)})
        await recorder.wait_for("subscribed")
        recorder.received.clear()
        _, data, seq = await recorder.wait_for("heartbeat", timeout=10)
    finally:
        await recorder.client.disconnect()
        stop(process)
    print("heartbeat ->", data, "seq", seq)
    assert seq is None
    assert data["project_id"] == str(project.id) and data["status"] == "alive" and data["connections"] == 1
    assert data["server_time"]


async def test_a_socketio_client_gets_playground_events(server, provider):
    project = await sync_to_async(project_create)(name="Socket IO playground")
    provider.script(text("Hello from the playground", usage=(10, 4)))
    recorder = Recorder()
    await recorder.client.connect(server, transports=["websocket"])
    try:
        await recorder.client.emit("subscribe", {"project_id": str(project.id)})
        await recorder.wait_for("subscribed")
        async with httpx.AsyncClient(base_url=server, timeout=120) as http:
            response = await http.post(f"/projects/{project.id}/playground", json={"input": "Hi"})
        assert response.status_code == 200 and response.json()["status"] == "completed", response.text
        name, data, seq = await recorder.wait_for("playground_event")
        print("playground_event over Socket.IO:", data)
        assert data["run_id"] == response.json()["run_id"] and data["kind"] == "message"
        assert data["content"] == "Hello from the playground" and seq is None  # not stored, not replayed
    finally:
        await recorder.client.disconnect()
