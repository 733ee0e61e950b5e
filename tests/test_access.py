"""The optional API token and the vibecode rate limit, as a client sees them."""

import pytest
from asgiref.sync import sync_to_async

from model_double.script import text
from projects.services import project_create

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
