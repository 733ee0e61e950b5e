"""HTTP rules every endpoint keeps: JSON errors, no redirects, 404 for unknown URLs and ids, 413 for big bodies."""

import logging
import shutil
import uuid

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def assert_json_error(response, status: int) -> dict:
    print(response.request.method, response.request.url.path, "->", response.status_code, response.text[:200])
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize("path", ["/nope", "/projects/x/y/z", "/api/projects", "/sessions", "/diffs"])
async def test_unknown_url_is_404_json(api, path):
    assert_json_error(await api.get(path), 404)


@pytest.mark.parametrize(
    "path", ["/health/", "/projects/", f"/projects/{uuid.uuid4()}/", f"/sessions/{uuid.uuid4()}/messages/"]
)
async def test_trailing_slash_never_redirects(api, path):
    response = await api.get(path)
    print(f"GET {path} ->", response.status_code, response.headers.get("location"))
    assert response.status_code not in (301, 302, 307, 308)
    assert "location" not in response.headers
    assert response.headers["content-type"] == "application/json"


async def test_post_with_trailing_slash_does_not_create_through_a_redirect(api):
    response = await api.post("/projects/", json={"name": "Slash"})
    assert response.status_code not in (301, 302, 307, 308)
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "path",
    [
        "/projects/{bad}",
        "/projects/{bad}/nodes",
        "/projects/{bad}/sessions",
        "/projects/{bad}/diffs",
        "/projects/{bad}/tests",
        "/projects/{bad}/tests/quick",
        "/sessions/{bad}",
        "/sessions/{bad}/messages",
        "/sessions/{bad}/diffs",
        "/sessions/{bad}/diffs/pending",
        "/messages/{bad}/full",
        "/diffs/{bad}",
        "/tests/{bad}",
    ],
)
@pytest.mark.parametrize("bad", ["not-a-uuid", "1", "%27%20OR%201%3D1", str(uuid.uuid4())])
async def test_malformed_or_unknown_ids_are_404_json(api, path, bad):
    body = assert_json_error(await api.get(path.format(bad=bad)), 404)
    assert set(body) == {"detail"}


async def test_body_over_the_upload_limit_is_413_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = await api.post("/projects", json={"name": "x" * 2000})
    assert_json_error(response, 413)
    assert (await api.get("/projects")).json() == []


async def test_body_just_under_the_upload_limit_is_read(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = await api.post("/projects", json={"name": "Small", "padding": "x" * 900})
    assert response.status_code == 201, response.text


async def test_big_body_on_another_endpoint_is_413_json(api, settings):
    project = (await api.post("/projects", json={"name": "Limits"})).json()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = await api.post(f"/projects/{project['id']}/tests", json={"name": "big", "test_code": "#" * 5000})
    assert_json_error(response, 413)


@pytest.mark.parametrize(
    "method,path",
    [("put", "/projects"), ("patch", "/projects/{id}"), ("post", "/health"), ("delete", "/projects/{id}/nodes")],
)
async def test_wrong_method_is_405_json(api, method, path):
    project = (await api.post("/projects", json={"name": "Methods"})).json()
    response = await api.request(method.upper(), path.format(id=project["id"]), json={})
    assert_json_error(response, 405)


async def test_errors_are_never_html(api):
    for response in [
        await api.get("/nowhere"),
        await api.post("/projects", content=b"<html>", headers={"content-type": "text/html"}),
        await api.post("/projects", content=b"{", headers={"content-type": "application/json"}),
        await api.get(f"/projects/{uuid.uuid4()}"),
    ]:
        assert "html" not in response.headers["content-type"]
        assert "<html" not in response.text.lower()


async def test_json_nested_too_deeply_is_400_json_and_stores_nothing(api):
    nested = "[" * 100_000 + "]" * 100_000
    for path in ("/projects", "/projects/{id}/tests"):
        project = (await api.post("/projects", json={"name": "Depth"})).json()
        body = f'{{"name": "deep", "test_code": "assert True", "x": {nested}}}'
        response = await api.post(
            path.format(id=project["id"]), content=body, headers={"content-type": "application/json"}
        )
        detail = assert_json_error(response, 400)["detail"]
        assert "nested too deeply" in detail
        assert (await api.get(f"/projects/{project['id']}/tests")).json() == []
        await api.delete(f"/projects/{project['id']}")
    assert (await api.get("/projects")).json() == []


async def _chunks(*parts: bytes):
    for part in parts:
        yield part


async def test_a_chunked_body_without_content_length_is_read(api):
    response = await api.post(
        "/projects", content=_chunks(b'{"name": ', b'"Chunked"}'), headers={"content-type": "application/json"}
    )
    print("chunked POST /projects ->", response.status_code, response.text[:200])
    assert "content-length" not in response.request.headers
    assert response.status_code == 201
    assert response.json()["name"] == "Chunked"


async def test_a_chunked_body_over_the_upload_limit_is_413_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = _chunks(b'{"name": "', b"x" * 2000, b'"}')
    response = await api.post("/projects", content=body, headers={"content-type": "application/json"})
    assert_json_error(response, 413)
    assert (await api.get("/projects")).json() == []


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/docs", "/schema"])
async def test_wrong_method_on_the_docs_and_schema_is_405_json(api, method, path):
    assert_json_error(await api.request(method, path), 405)
    assert (await api.get(path)).status_code == 200


async def test_unreadable_repository_is_a_500_sentence_and_logged(api, caplog):
    project = (await api.post("/projects", json={"name": "Gone"})).json()
    shutil.rmtree(project["repository_path"])  # the server's storage lost the repository
    with caplog.at_level(logging.ERROR, logger="vibegrapher.errors"):
        body = assert_json_error(await api.get(f"/projects/{project['id']}/commits"), 500)
    print("logged:", [record.getMessage() for record in caplog.records])
    assert "git repository" in body["detail"]
    assert any(record.exc_info for record in caplog.records if record.name == "vibegrapher.errors")


async def test_a_vibecode_message_is_checked_in_order_and_a_refused_one_stores_nothing(api, provider, settings):
    """POST /sessions/:id/messages: an unknown session is 404 whatever the body; then a body that is
    no JSON is 400 and one over the upload limit 413, JSON each time, and no message or run is stored."""
    project = (await api.post("/projects", json={"name": "Message rules"})).json()
    session = (await api.post(f"/projects/{project['id']}/sessions", json={})).json()
    unknown = f"/sessions/{uuid.uuid4()}/messages"
    known = f"/sessions/{session['id']}/messages"
    json_type = {"content-type": "application/json"}

    assert_json_error(await api.post(unknown, content=b"{", headers=json_type), 404)
    assert_json_error(await api.post(known, content=b"{", headers=json_type), 400)
    assert_json_error(await api.post(known, json={"prompt": ""}), 400)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert_json_error(await api.post(known, json={"prompt": "x" * 2000}), 413)

    assert (await api.get(known)).json() == []
    assert provider.requests == []
