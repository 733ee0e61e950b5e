"""The project events WebSocket (sessions.consumers) as a browser sees it.

Subscribe and unsubscribe, errors, events, replay after a reconnect, heartbeat, Origin checks.
"""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async

from projects.services import project_create
from sessions import events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def project_id() -> str:
    project = await sync_to_async(project_create)(name=f"Live {uuid.uuid4().hex[:8]}")
    return str(project.id)


async def publish(project_id: str, event_type: str = events.CODE_CHANGED, **data) -> dict:
    return await sync_to_async(events.event_publish)(project_id=project_id, event_type=event_type, data=data)


async def connected(socket_factory, path: str, headers=None):
    socket = socket_factory(path, headers)
    ok, code = await socket.connect()
    assert ok, f"connect to {path} refused with {code}"
    return socket


async def test_project_url_answers_subscribed(socket_factory, project_id):
    socket = await connected(socket_factory, f"/ws/projects/{project_id}")
    message = await socket.receive()
    print("first message:", message)
    assert message == {"type": "subscribed", "data": {"project_id": project_id}}


@pytest.mark.parametrize("bad_id", [str(uuid.UUID(int=1)), "not-a-uuid"])
async def test_unknown_project_gets_error_then_close_4404(socket_factory, bad_id):
    socket = await connected(socket_factory, f"/ws/projects/{bad_id}")
    message = await socket.receive()
    print("message:", message)
    assert message["type"] == "error"
    assert set(message["data"]) == {"detail"} and message["data"]["detail"]
    close = await socket.communicator.receive_output(timeout=5)
    print("then:", close)
    assert close == {"type": "websocket.close", "code": 4404}


async def test_subscribe_message_on_plain_ws(socket_factory, project_id):
    socket = await connected(socket_factory, "/ws")
    await socket.send({"type": "subscribe", "project_id": project_id})
    assert await socket.receive() == {"type": "subscribed", "data": {"project_id": project_id}}
    sent = await publish(project_id, new_code="x = 1\n")
    assert await socket.receive() == sent  # stored: {"type", "data", "seq"}


async def test_subscribe_to_unknown_project_is_an_error_and_the_socket_stays_open(socket_factory, project_id):
    socket = await connected(socket_factory, "/ws")
    await socket.send({"type": "subscribe", "project_id": str(uuid.uuid4())})
    message = await socket.receive()
    print("subscribe unknown ->", message)
    assert message["type"] == "error"
    await socket.send({"type": "subscribe", "project_id": project_id})
    assert (await socket.receive())["type"] == "subscribed"


@pytest.mark.parametrize(
    "message,says",
    [
        ({"type": "subscribe"}, 'needs a "project_id"'),
        ({"type": "subscribe", "project_id": ""}, 'needs a "project_id"'),
        ({"type": "subscribe", "project_id": "not-a-uuid"}, "Project 'not-a-uuid' not found: project ids are UUIDs."),
        ({"type": "subscribe", "project_id": 123}, "Project 123 not found: project ids are UUIDs."),
    ],
)
async def test_a_missing_or_malformed_project_id_is_an_error_that_says_so(socket_factory, project_id, message, says):
    socket = await connected(socket_factory, "/ws")
    await socket.send(message)
    answer = await socket.receive()
    print(f"sent {message} -> {answer}")
    assert answer["type"] == "error" and says in answer["data"]["detail"]
    assert "after" not in answer["data"]["detail"]
    await socket.send({"type": "subscribe", "project_id": project_id})
    assert (await socket.receive())["type"] == "subscribed"


async def test_unsubscribe_stops_events(socket_factory, project_id):
    socket = await connected(socket_factory, f"/ws/projects/{project_id}")
    await socket.receive_until("subscribed")
    await socket.send({"type": "unsubscribe"})
    message = await socket.receive()
    print("unsubscribe ->", message)
    assert message == {"type": "unsubscribed", "data": {"project_id": project_id}}
    await publish(project_id, new_code="y = 2\n")
    assert await socket.communicator.receive_nothing(timeout=0.3)
    await socket.send({"type": "unsubscribe"})
    again = await socket.receive()
    print("unsubscribe again ->", again)
    assert again == {"type": "unsubscribed", "data": {"project_id": None}}, "nothing was left the second time"


async def test_subscribing_to_another_project_leaves_the_first(socket_factory, project_id):
    second = str((await sync_to_async(project_create)(name="Second")).id)
    socket = await connected(socket_factory, f"/ws/projects/{project_id}")
    await socket.receive_until("subscribed")
    await socket.send({"type": "subscribe", "project_id": second})
    assert await socket.receive() == {"type": "subscribed", "data": {"project_id": second}}
    await publish(project_id, which="first")
    sent = await publish(second, which="second")
    assert await socket.receive() == sent
    assert await socket.communicator.receive_nothing(timeout=0.3)


@pytest.mark.parametrize(
    "raw",
    ["not json", "{", "[1, 2]", '"subscribe"', "42", '{"no_type": true}', '{"type": "dance"}', "[" * 100_000],
    ids=lambda raw: raw if len(raw) < 20 else f"{raw[:5]}...({len(raw)} chars)",
)
async def test_bad_client_messages_get_an_error_and_the_socket_stays_usable(socket_factory, project_id, raw):
    socket = await connected(socket_factory, "/ws")
    await socket.communicator.send_to(text_data=raw)
    message = await socket.receive()
    print(f"sent {raw[:40]!r} ({len(raw)} chars) ->", message)
    assert message["type"] == "error"
    assert message["data"]["detail"]
    await socket.send({"type": "subscribe", "project_id": project_id})
    assert (await socket.receive())["type"] == "subscribed"


async def test_published_event_reaches_every_subscriber_of_that_project_only(socket_factory, project_id):
    other = str((await sync_to_async(project_create)(name="Unrelated")).id)
    first = await connected(socket_factory, f"/ws/projects/{project_id}")
    second = await connected(socket_factory, f"/ws/projects/{project_id}")
    outsider = await connected(socket_factory, f"/ws/projects/{other}")
    for socket in (first, second, outsider):
        await socket.receive_until("subscribed")

    await publish(project_id, events.TEST_COMPLETED, test_name="quick", status="passed")
    sent = await sync_to_async(events.event_seq_latest)(project_id=project_id)
    for socket in (first, second):
        message = await socket.receive()
        print("received:", message)
        # SPEC section 7: every server message is {"type", "data"}; a stored one carries its seq, also without ?after=.
        assert message == {"type": "test_completed", "data": {"test_name": "quick", "status": "passed"}, "seq": sent}
    assert await outsider.communicator.receive_nothing(timeout=0.3)


async def test_after_latest_sends_live_events_without_replaying(socket_factory, project_id):
    await publish(project_id, n=0)
    socket = await connected(socket_factory, f"/ws/projects/{project_id}?after=latest")
    await socket.receive_until("subscribed")
    assert await socket.communicator.receive_nothing(timeout=0.3)
    sent = await publish(project_id, events.TEST_COMPLETED, test_name="quick", status="passed")
    message = await socket.receive()
    print("received:", message)
    assert message == {"type": "test_completed", "data": {"test_name": "quick", "status": "passed"}, "seq": sent["seq"]}


async def test_sequence_numbers_increase_by_one_per_project(socket_factory, project_id):
    socket = await connected(socket_factory, f"/ws/projects/{project_id}?after=latest")
    await socket.receive_until("subscribed")
    for n in range(3):
        await publish(project_id, n=n)
    received = [await socket.receive() for _ in range(3)]
    seqs = [m["seq"] for m in received]
    print("seqs:", seqs)
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    assert [m["data"]["n"] for m in received] == [0, 1, 2]


async def test_reconnect_with_after_replays_missed_events_then_live_ones(socket_factory, project_id):
    published = [await publish(project_id, n=n) for n in range(4)]
    after = published[0]["seq"]
    socket = await connected(socket_factory, f"/ws/projects/{project_id}?after={after}")
    assert (await socket.receive())["type"] == "subscribed"
    replayed = [await socket.receive() for _ in range(3)]
    print("replayed:", [m["seq"] for m in replayed])
    assert replayed == published[1:]
    live = await publish(project_id, n=4)
    assert await socket.receive() == live
    assert await socket.communicator.receive_nothing(timeout=0.3)


async def test_subscribe_message_with_after_replays(socket_factory, project_id):
    published = [await publish(project_id, n=n) for n in range(3)]
    socket = await connected(socket_factory, "/ws")
    await socket.send({"type": "subscribe", "project_id": project_id, "after": published[1]["seq"]})
    assert (await socket.receive())["type"] == "subscribed"
    assert await socket.receive() == published[2]
    live = await publish(project_id, n=3)
    assert await socket.receive() == live
    assert await socket.communicator.receive_nothing(timeout=0.3)


async def test_after_zero_replays_everything_and_after_latest_replays_nothing(socket_factory, project_id):
    published = [await publish(project_id, n=n) for n in range(2)]
    everything = await connected(socket_factory, f"/ws/projects/{project_id}?after=0")
    await everything.receive_until("subscribed")
    assert [await everything.receive() for _ in range(2)] == published
    nothing = await connected(socket_factory, f"/ws/projects/{project_id}?after={published[-1]['seq']}")
    await nothing.receive_until("subscribed")
    assert await nothing.communicator.receive_nothing(timeout=0.3)


async def test_events_published_while_replaying_arrive_once_and_in_order(socket_factory, project_id):
    for n in range(50):
        await publish(project_id, n=n)
    socket = socket_factory(f"/ws/projects/{project_id}?after=0")
    connecting = asyncio.ensure_future(socket.connect())
    for n in range(50, 60):
        await publish(project_id, n=n)
    ok, _ = await connecting
    assert ok
    await socket.receive_until("subscribed")
    received: list[int] = []
    while len(received) < 60:
        received.append((await socket.receive())["data"]["n"])
    print("received", len(received), "events; first/last:", received[0], received[-1])
    assert received == list(range(60))
    assert await socket.communicator.receive_nothing(timeout=0.3)


def _store_unsent(project_id: str, count: int) -> list[dict]:
    """Store events the way another process does, whose sends have not arrived here yet."""
    from django.db import transaction

    from projects.models import Project
    from sessions.models import ProjectEvent
    from vibegrapher.counters import counter_advance

    with transaction.atomic():
        last = counter_advance(model=Project, pk=project_id, field="event_seq", by=count)
        rows = [
            ProjectEvent(project_id=project_id, seq=seq, type=events.CODE_CHANGED, data={"n": seq})
            for seq in range(last - count + 1, last + 1)
        ]
        ProjectEvent.objects.bulk_create(rows)
    return [events.envelope(row.type, row.data, row.seq) for row in rows]


async def _deliver(project_id: str, event: dict) -> None:
    """Deliver one stored event live, as its process's send would."""
    from channels.layers import get_channel_layer

    group = events.group_name(project_id)
    await get_channel_layer().group_send(group, {"type": "project.event", "group": group, "event": event})


@pytest.mark.parametrize("path_suffix", ["?after=latest", ""])
async def test_an_event_that_overtakes_earlier_ones_comes_after_them(socket_factory, project_id, path_suffix):
    # Two processes commit seq 1-3 and 4; 4's send arrives first. The client gets 1, 2, 3, 4 in order,
    # and 2 arriving late is not sent twice.
    socket = await connected(socket_factory, f"/ws/projects/{project_id}{path_suffix}")
    await socket.receive_until("subscribed")
    early = await sync_to_async(_store_unsent)(project_id, 3)
    overtaking = await publish(project_id, n=4)
    received = [await socket.receive() for _ in range(4)]
    await _deliver(project_id, early[1])
    print("received:", [(m.get("seq"), m["data"]["n"]) for m in received])
    assert [m["data"]["n"] for m in received] == [1, 2, 3, 4]
    assert received[-1]["data"] == overtaking["data"]
    assert [m["seq"] for m in received] == [1, 2, 3, 4]
    assert await socket.communicator.receive_nothing(timeout=0.3), "the late event was already sent"


async def test_replay_is_not_capped(socket_factory, project_id):
    stored = await sync_to_async(_store_unsent)(project_id, events.REPLAY_PAGE * 2 + 5)
    socket = await connected(socket_factory, f"/ws/projects/{project_id}?after=3")
    await socket.receive_until("subscribed")
    seqs = [(await socket.receive())["seq"] for _ in range(len(stored) - 3)]
    print("replayed", len(seqs), "events:", seqs[0], "...", seqs[-1])
    assert seqs == list(range(4, len(stored) + 1))
    assert await socket.communicator.receive_nothing(timeout=0.3)


async def test_after_beyond_the_latest_event_still_gets_new_events(socket_factory, project_id):
    await publish(project_id, n=1)
    socket = await connected(socket_factory, f"/ws/projects/{project_id}?after=999")
    await socket.receive_until("subscribed")
    sent = await publish(project_id, n=2)
    assert await socket.receive() == sent


async def test_a_client_gone_during_the_replay_leaves_no_count_behind(project_id):
    # The server's sends fail once the client has dropped the connection; the connection must still
    # leave the heartbeat's counts (they grew by one per such client before).
    from sessions import consumers
    from vibegrapher.asgi import application

    await sync_to_async(_store_unsent)(project_id, 20)
    before = consumers.connections[project_id], consumers.connections[None]
    inbox: asyncio.Queue = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})

    async def send(message: dict) -> None:
        if message["type"] == "websocket.send":
            raise OSError("the client went away")

    scope = {
        "type": "websocket",
        "path": f"/ws/projects/{project_id}",
        "raw_path": f"/ws/projects/{project_id}".encode(),
        "query_string": b"after=0",
        "headers": [],
        "subprotocols": [],
    }
    with pytest.raises(OSError):
        await application(scope, inbox.get, send)
    after = consumers.connections[project_id], consumers.connections[None]
    print("connections (project, all) before:", before, "after:", after)
    assert after == before


async def test_unknown_websocket_path_gets_an_error_and_a_close_code(socket_factory):
    for path in ("/ws/projects/", "/ws/", "/ws/nothing/here"):
        socket = await connected(socket_factory, path)
        message = await socket.receive()
        closed = await socket.communicator.receive_output(timeout=2)
        print(f"{path} ->", message, closed)
        assert message["type"] == "error"
        assert path in message["data"]["detail"]
        assert closed == {"type": "websocket.close", "code": 4404}


@pytest.mark.parametrize("after", ["abc", "-x", "1.5"])
async def test_bad_after_is_an_error(socket_factory, project_id, after):
    socket = await connected(socket_factory, "/ws")
    await socket.send({"type": "subscribe", "project_id": project_id, "after": after})
    answer = await socket.receive()
    assert answer["type"] == "error"
    assert answer["data"]["detail"].startswith('"after" must be an event sequence number')


async def test_heartbeat_carries_server_time_project_status_and_connections(socket_factory, project_id, settings):
    settings.HEARTBEAT_INTERVAL_S = 0.2
    first = await connected(socket_factory, f"/ws/projects/{project_id}")
    second = await connected(socket_factory, f"/ws/projects/{project_id}")
    await second.receive_until("subscribed")
    heartbeat = await first.receive_until("heartbeat", timeout=3)
    heartbeat = await first.receive_until("heartbeat", timeout=3)  # the first may predate the second socket
    print("heartbeat:", heartbeat)
    data = heartbeat["data"]
    assert set(data) == {"server_time", "project_id", "status", "connections"}
    assert data["project_id"] == project_id
    assert data["status"] == "alive"
    assert data["connections"] == 2
    assert data["server_time"].endswith("Z") or data["server_time"].endswith("+00:00")

    await second.close()
    await asyncio.sleep(0.05)
    for _ in range(2):
        heartbeat = await first.receive_until("heartbeat", timeout=3)
    assert heartbeat["data"]["connections"] == 1


async def test_ping_is_answered_with_pong(socket_factory):
    socket = await connected(socket_factory, "/ws")
    await socket.send({"type": "ping"})
    assert (await socket.receive())["type"] == "pong"


@pytest.mark.parametrize(
    "origin,accepted",
    [
        (b"https://app.example", True),
        (b"https://APP.example", True),
        (b"https://evil.example", False),
        (b"http://app.example", False),
        (b"https://app.example.evil.example", False),
        (b"null", False),
        (b"https://app.example:443", True),
        (b"https://app.example:8443", False),
        (b"https://app.example:notaport", False),
        (b"http://api.example:8000", True),  # the server's own origin (the page it served)
        (b"http://api.example", False),
        (None, True),
    ],
)
async def test_origin_must_be_allowed_by_cors_origins(socket_factory, project_id, settings, origin, accepted):
    settings.CORS_ORIGINS = ["https://app.example"]
    headers = [(b"host", b"api.example:8000")] + ([(b"origin", origin)] if origin is not None else [])
    socket = socket_factory(f"/ws/projects/{project_id}", headers)
    ok, code = await socket.connect()
    print(f"Origin {origin!r} -> connected={ok} code={code}")
    assert ok is accepted
    if accepted:
        assert (await socket.receive())["type"] == "subscribed"


async def test_any_origin_is_accepted_with_star(socket_factory, project_id, settings):
    settings.CORS_ORIGINS = ["*"]
    socket = socket_factory(f"/ws/projects/{project_id}", [(b"origin", b"https://anything.example")])
    ok, _ = await socket.connect()
    assert ok


@pytest.mark.parametrize("after", [[1], {"seq": 1}, 10**30, "99999999999999999999999"])
async def test_after_of_the_wrong_type_or_size_is_an_error_not_a_crash(socket_factory, project_id, after):
    socket = await connected(socket_factory, "/ws")
    await socket.send({"type": "subscribe", "project_id": project_id, "after": after})
    message = await socket.receive()
    print(f"subscribe after={after!r} ->", message)
    assert message["type"] in ("error", "subscribed")
    await socket.send({"type": "ping"})
    assert (await socket.receive_until("pong"))["type"] == "pong"


@pytest.mark.parametrize("project_ref", [[1], {"id": 1}, None, 12])
async def test_project_id_of_the_wrong_type_is_an_error_not_a_crash(socket_factory, project_ref):
    socket = await connected(socket_factory, "/ws")
    await socket.send({"type": "subscribe", "project_id": project_ref})
    assert (await socket.receive())["type"] == "error"
    await socket.send({"type": "ping"})
    assert (await socket.receive())["type"] == "pong"


async def test_huge_after_in_the_url_is_an_error_not_a_crash(socket_factory, project_id):
    socket = await connected(socket_factory, f"/ws/projects/{project_id}?after=99999999999999999999999")
    message = await socket.receive()
    print("after=10^23 ->", message)
    assert message["type"] in ("error", "subscribed")


async def test_an_event_of_a_project_left_is_not_sent_after_switching(project_id):
    # Switching projects on /ws while the first project's events are still in the socket's channel:
    # they must not reach it, nor be taken for the new project's (whose seq numbers are its own).
    from sessions.consumers import ProjectEventsConsumer

    second = str((await sync_to_async(project_create)(name="Switched to")).id)
    late = (await sync_to_async(_store_unsent)(project_id, 5))[-1]
    consumer = ProjectEventsConsumer()
    sent: list[dict] = []

    async def collect(content):
        sent.append(content)

    consumer.subscription.send = collect
    consumer.subscription.start(second)
    await consumer.project_event({"type": "project.event", "group": events.group_name(project_id), "event": late})
    print("sent after switching:", sent)
    assert sent == []


@pytest.mark.parametrize("path", ["/ws/projects/{project_id}", "/ws"])
async def test_an_unreachable_channel_layer_closes_the_socket_with_1011(socket_factory, project_id, settings, path):
    """Redis down: the socket cannot get events. It used to be dropped without a close code."""
    from sessions import consumers
    from tests.processes import free_port

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},  # nothing listens there
        }
    }
    before = consumers.connections[project_id], consumers.connections[None]
    socket = socket_factory(path.format(project_id=project_id))
    connected, code = await socket.connect(timeout=10)
    outputs = [] if connected else [{"type": "websocket.close", "code": code}]
    while not outputs or outputs[-1]["type"] != "websocket.close":
        outputs.append(await socket.communicator.receive_output(timeout=10))
    print(f"{path}: accepted {connected}; then {outputs}")
    assert outputs[-1]["code"] == consumers.CLOSE_LAYER_UNAVAILABLE
    if connected:
        assert outputs[-1]["reason"] == consumers.LAYER_UNAVAILABLE
    await socket.communicator.wait(timeout=5)
    assert (consumers.connections[project_id], consumers.connections[None]) == before
