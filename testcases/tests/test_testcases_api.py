"""REST API of test cases: /projects/:id/tests, /projects/:id/tests/quick and /tests/:id."""

import uuid

import pytest

from tests.samples import NOT_STRINGS

pytestmark = pytest.mark.django_db(transaction=True)

TEST_FIELDS = {"id", "project_id", "name", "test_code", "scenario", "quick_test", "created_at", "updated_at"}
CODE = "import workflow\n\nassert workflow.assistant_agent.name == 'Assistant'\n"


def is_utc(timestamp: str) -> bool:
    return timestamp.endswith("Z") or timestamp.endswith("+00:00")


@pytest.fixture
async def project(api) -> dict:
    return (await api.post("/projects", json={"name": "Tested"})).json()


async def add_test(api, project: dict, **fields) -> dict:
    response = await api.post(f"/projects/{project['id']}/tests", json={"name": "t", "test_code": CODE, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_answers_201_with_the_test_case(api, project):
    response = await api.post(
        f"/projects/{project['id']}/tests", json={"name": "Assistant is named", "test_code": CODE, "quick_test": True}
    )
    body = response.json()
    print("POST /projects/:id/tests ->", response.status_code, body)
    assert response.status_code == 201
    assert set(body) == TEST_FIELDS
    uuid.UUID(body["id"])
    assert body["project_id"] == project["id"]
    assert (body["name"], body["test_code"], body["quick_test"]) == ("Assistant is named", CODE, True)
    assert is_utc(body["created_at"]) and is_utc(body["updated_at"])


async def test_quick_test_defaults_to_false_and_code_keeps_its_whitespace(api, project):
    code = "\n    \nimport workflow\n\n\n"
    body = await add_test(api, project, test_code=code)
    assert body["quick_test"] is False
    assert body["test_code"] == code


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": "no code"},
        {"test_code": CODE},
        {"name": "", "test_code": CODE},
        {"name": "t", "test_code": ""},
        {"name": "t", "test_code": CODE, "quick_test": "sometimes"},
        {"name": "t", "test_code": CODE, "quick_test": "true"},
        {"name": "t", "test_code": CODE, "quick_test": 1},
        {"name": None, "test_code": CODE},
        [],
    ],
)
async def test_bad_create_is_400(api, project, payload):
    response = await api.post(f"/projects/{project['id']}/tests", json=payload)
    body = response.json()
    print(f"POST /projects/:id/tests {payload} ->", response.status_code, body)
    assert response.status_code == 400
    assert body["detail"]
    assert (await api.get(f"/projects/{project['id']}/tests")).json() == []


@pytest.mark.parametrize("value", NOT_STRINGS)
@pytest.mark.parametrize("field", ["name", "test_code"])
async def test_create_with_a_field_that_is_not_a_string_is_400(api, project, field, value):
    payload = {"name": "t", "test_code": CODE, field: value}
    response = await api.post(f"/projects/{project['id']}/tests", json=payload)
    body = response.json()
    print(f"POST /projects/:id/tests {payload} ->", response.status_code, body)
    assert response.status_code == 400
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["errors"][field] == ["Not a valid string."]
    assert (await api.get(f"/projects/{project['id']}/tests")).json() == []


async def test_create_with_digits_sent_as_strings_is_fine(api, project):
    response = await api.post(f"/projects/{project['id']}/tests", json={"name": "123", "test_code": "1"})
    body = response.json()
    print("POST /projects/:id/tests name='123' test_code='1' ->", response.status_code, body)
    assert response.status_code == 201
    assert (body["name"], body["test_code"]) == ("123", "1")


async def test_list_and_quick_list(api, project):
    other = (await api.post("/projects", json={"name": "Other"})).json()
    await add_test(api, other, name="other", quick_test=True)
    slow = await add_test(api, project, name="slow")
    quick = await add_test(api, project, name="quick", quick_test=True)

    response = await api.get(f"/projects/{project['id']}/tests")
    print("GET /projects/:id/tests ->", [t["name"] for t in response.json()])
    assert response.status_code == 200
    assert response.json() == [slow, quick]

    response = await api.get(f"/projects/{project['id']}/tests/quick")
    print("GET /projects/:id/tests/quick ->", [t["name"] for t in response.json()])
    assert response.status_code == 200
    assert response.json() == [quick]


async def test_lists_are_empty_without_tests(api, project):
    assert (await api.get(f"/projects/{project['id']}/tests")).json() == []
    assert (await api.get(f"/projects/{project['id']}/tests/quick")).json() == []


@pytest.mark.parametrize("project_id", [str(uuid.uuid4()), "nope"])
async def test_tests_of_unknown_project_are_404(api, project_id):
    for response in [
        await api.get(f"/projects/{project_id}/tests"),
        await api.get(f"/projects/{project_id}/tests/quick"),
        await api.post(f"/projects/{project_id}/tests", json={"name": "t", "test_code": CODE}),
    ]:
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}


async def test_get_one_test(api, project):
    created = await add_test(api, project)
    response = await api.get(f"/tests/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


async def test_patch_changes_only_the_given_fields(api, project):
    created = await add_test(api, project, name="before")
    response = await api.patch(f"/tests/{created['id']}", json={"name": "after", "quick_test": True})
    body = response.json()
    print("PATCH /tests/:id ->", response.status_code, body)
    assert response.status_code == 200
    assert set(body) == TEST_FIELDS
    assert (body["name"], body["quick_test"], body["test_code"]) == ("after", True, created["test_code"])
    assert body["created_at"] == created["created_at"]
    assert body["updated_at"] >= created["updated_at"]
    assert (await api.get(f"/tests/{created['id']}")).json() == body
    assert [t["id"] for t in (await api.get(f"/projects/{project['id']}/tests/quick")).json()] == [created["id"]]


async def test_patch_with_empty_body_changes_nothing(api, project):
    created = await add_test(api, project)
    response = await api.patch(f"/tests/{created['id']}", json={})
    assert response.status_code == 200
    assert {k: v for k, v in response.json().items() if k != "updated_at"} == {
        k: v for k, v in created.items() if k != "updated_at"
    }


@pytest.mark.parametrize("payload", [{"name": ""}, {"test_code": ""}, {"quick_test": "maybe"}, {"name": None}, []])
async def test_bad_patch_is_400_and_changes_nothing(api, project, payload):
    created = await add_test(api, project)
    response = await api.patch(f"/tests/{created['id']}", json=payload)
    print(f"PATCH /tests/:id {payload} ->", response.status_code, response.json())
    assert response.status_code == 400
    assert response.json()["detail"]
    assert (await api.get(f"/tests/{created['id']}")).json() == created


@pytest.mark.parametrize("value", NOT_STRINGS)
@pytest.mark.parametrize("field", ["name", "test_code"])
async def test_patch_with_a_field_that_is_not_a_string_is_400_and_changes_nothing(api, project, field, value):
    created = await add_test(api, project)
    response = await api.patch(f"/tests/{created['id']}", json={field: value})
    body = response.json()
    print(f"PATCH /tests/:id {{{field!r}: {value!r}}} ->", response.status_code, body)
    assert response.status_code == 400
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["errors"][field] == ["Not a valid string."]
    assert (await api.get(f"/tests/{created['id']}")).json() == created


async def test_patch_cannot_move_a_test_to_another_project(api, project):
    other = (await api.post("/projects", json={"name": "Other"})).json()
    created = await add_test(api, project)
    response = await api.patch(f"/tests/{created['id']}", json={"project_id": other["id"], "id": str(uuid.uuid4())})
    assert response.status_code in (200, 400)
    assert (await api.get(f"/tests/{created['id']}")).json()["project_id"] == project["id"]


async def test_delete_answers_204_then_404(api, project):
    created = await add_test(api, project)
    response = await api.delete(f"/tests/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await api.get(f"/tests/{created['id']}")).status_code == 404
    assert (await api.delete(f"/tests/{created['id']}")).status_code == 404
    assert (await api.get(f"/projects/{project['id']}/tests")).json() == []


@pytest.mark.parametrize("test_id", [str(uuid.uuid4()), "t-1"])
async def test_unknown_test_is_404(api, test_id):
    for response in [
        await api.get(f"/tests/{test_id}"),
        await api.patch(f"/tests/{test_id}", json={"name": "x"}),
        await api.delete(f"/tests/{test_id}"),
    ]:
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}
