"""The optional API token and the vibecode rate limit, as a client sees them."""

import httpx
import pytest
from asgiref.sync import sync_to_async

from model_double.script import text
from projects.services import project_create
from tests.processes import start_uvicorn, stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(settings) -> str:
    settings.VIBEGRAPHER_API_TOKEN = "s3cret-token"
    return "s3cret-token"


async def test_rest_needs_the_token_when_configured(api, token):
    missing = await api.get("/projects")
    assert missing.status_code == 401
    assert "token" in missing.json()["detail"]
    wrong = await api.get("/projects", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert (await api.get("/projects", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert (await api.get("/projects", headers={"X-API-Token": token})).status_code == 200
    assert (await api.get("/health")).status_code == 200, "the health check stays public"


async def test_rest_is_open_without_a_configured_token(api):
    assert (await api.get("/projects")).status_code == 200


async def test_websocket_needs_the_token_when_configured(socket_factory, token):
    project = await sync_to_async(project_create)(name="Guarded")
    refused = socket_factory(f"/ws/projects/{project.id}")
    connected, _ = await refused.connect()
    assert connected  # accepted only to be closed with a reason
    closed = await refused.communicator.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4401}

    by_query = socket_factory(f"/ws/projects/{project.id}?token={token}")
    assert (await by_query.connect())[0]
    assert (await by_query.receive())["type"] == "subscribed"

    by_header = socket_factory(f"/ws/projects/{project.id}", headers=[(b"authorization", f"Bearer {token}".encode())])
    assert (await by_header.connect())[0]
    assert (await by_header.receive())["type"] == "subscribed"


async def test_websocket_token_as_subprotocol(token):
    from channels.testing import WebsocketCommunicator

    from vibegrapher.asgi import application

    project = await sync_to_async(project_create)(name="Subprotocol")
    communicator = WebsocketCommunicator(application, f"/ws/projects/{project.id}", subprotocols=["bearer", token])
    connected, subprotocol = await communicator.connect()
    assert connected and subprotocol == "bearer"
    assert (await communicator.receive_json_from())["type"] == "subscribed"
    await communicator.disconnect()


async def test_vibecode_requests_are_rate_limited_per_client(api, provider, settings):
    settings.VIBECODE_RATE = "2/min"
    project = await sync_to_async(project_create)(name="Limited")
    session = (await api.post(f"/projects/{project.id}/sessions", json={})).json()
    provider.script(text("one"), text("two"))
    for prompt in ("first?", "second?"):
        assert (await api.post(f"/sessions/{session['id']}/messages", json={"prompt": prompt})).status_code == 200
    limited = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "third?"})
    assert limited.status_code == 429
    assert "detail" in limited.json() and limited.headers.get("Retry-After")
    assert (await api.get(f"/sessions/{session['id']}/messages")).status_code == 200, "reads are not limited"


async def test_rate_limit_without_its_redis_is_a_503_that_says_so(api, provider, settings):
    from tests.processes import free_port

    settings.VIBECODE_RATE = "5/min"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        }
    }
    project = await sync_to_async(project_create)(name="No Redis")
    session = (await api.post(f"/projects/{project.id}/sessions", json={})).json()
    response = await api.post(f"/sessions/{session['id']}/messages", json={"prompt": "Hello?"})
    print("POST with Redis away ->", response.status_code, response.text)
    assert response.status_code == 503
    assert "Redis is unreachable" in response.json()["detail"]
    assert len(provider.requests) == 0


async def test_a_forwarded_for_header_does_not_make_a_new_client(api, no_provider, settings):
    settings.VIBECODE_RATE = "3/min"
    project = await sync_to_async(project_create)(name="Spoofed")
    session = (await api.post(f"/projects/{project.id}/sessions", json={})).json()
    answers = [
        (
            await api.post(
                f"/sessions/{session['id']}/messages",
                json={"prompt": "Hello?"},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
        ).status_code
        for n in range(5)
    ]
    print("5 POSTs, each with another X-Forwarded-For, limit 3/min ->", answers)
    assert answers[3:] == [429, 429]


def _vibecode_posts(base_url: str, forwarded_for: list[str]) -> list[int]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        project = client.post("/projects", json={"name": "Behind a proxy"}).json()
        session = client.post(f"/projects/{project['id']}/sessions", json={}).json()
        return [
            client.post(
                f"/sessions/{session['id']}/messages", json={"prompt": "Hello?"}, headers={"X-Forwarded-For": address}
            ).status_code
            for address in forwarded_for
        ]


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        # The peer (127.0.0.1) is the trusted proxy: each forwarded client has its own count.
        ("127.0.0.1", [503, 503, 429, 503]),
        # The peer is not trusted: the header is ignored and all four are one client.
        ("192.0.2.1", [503, 503, 429, 429]),
    ],
)
def test_the_production_server_honours_forwarded_for_only_from_a_trusted_proxy(tmp_path, trusted, expected):
    # No model provider: an admitted vibecode POST answers 503, a limited one 429 (the limit comes first).
    process, base_url = start_uvicorn(
        tmp_path / "uvicorn.log", VIBECODE_RATE="2/min", FORWARDED_ALLOW_IPS=trusted, OPENAI_API_KEY=""
    )
    try:
        answers = _vibecode_posts(base_url, ["198.51.100.1", "198.51.100.1", "198.51.100.1", "198.51.100.2"])
    finally:
        stop(process)
    print(f"FORWARDED_ALLOW_IPS={trusted}: 3 POSTs from one forwarded client, 1 from another ->", answers)
    assert answers == expected
