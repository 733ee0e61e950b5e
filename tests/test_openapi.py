"""The served OpenAPI schema and the service agree where the fuzzer found they did not."""

import jsonschema_rs
import pytest
from asgiref.sync import sync_to_async
from schemathesis.specs.openapi.converter import to_json_schema

from diffs.models import Diff
from projects.services import project_create

pytestmark = pytest.mark.django_db(transaction=True)


async def _schema(api) -> dict:
    response = await api.get("/schema?format=json")
    assert response.status_code == 200
    return response.json()


def _request_validator(document: dict, component: str) -> jsonschema_rs.Draft4Validator:
    """The JSON Schema of one request body (OpenAPI 3.0 `nullable` converted), its `$ref`s inlined. Patterns stay
    as written (unanchored, as JSON Schema reads them): schemathesis's `update_quantifiers` would fold the
    lengths into `pattern` and anchor it."""
    schemas = document["components"]["schemas"]

    def inline(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(schemas[node["$ref"].rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return jsonschema_rs.Draft4Validator(
        to_json_schema(inline(schemas[component]), nullable_keyword="nullable", update_quantifiers=False)
    )


SESSION_BODIES: list[dict[str, str | None]] = [
    {},
    {"session_type": "global"},
    {"node_id": None},
    {"session_type": "global", "node_id": None},
    {"session_type": "global", "node_id": "triage_agent"},  # the combination the schema used to accept
    {"node_id": "triage_agent"},
    {"session_type": "node", "node_id": "triage_agent"},
    {"session_type": "node"},
    {"session_type": "node", "node_id": None},
    {"node_id": "   "},
]


async def test_the_schema_takes_exactly_the_session_bodies_the_service_takes(api, settings):
    project = await sync_to_async(project_create)(name="Schema sessions")
    nodes = (await api.get(f"/projects/{project.id}/nodes")).json()
    node = nodes[0]["id"]
    validator = _request_validator(await _schema(api), "SessionCreateRequest")
    for template in SESSION_BODIES:
        body = {key: (node if value == "triage_agent" else value) for key, value in template.items()}
        response = await api.post(f"/projects/{project.id}/sessions", json=body)
        print(f"POST sessions {body}: schema valid={validator.is_valid(body)}, service -> {response.status_code}")
        assert validator.is_valid(body) == (response.status_code in (200, 201)), response.text
    rejected = await api.post(f"/projects/{project.id}/sessions", json={"session_type": "global", "node_id": node})
    assert rejected.status_code == 400
    assert rejected.json()["errors"] == {"node_id": ["Not allowed for a global session."]}


async def test_blank_or_nul_strings_are_refused_by_the_schema_as_by_the_service(api):
    project = await sync_to_async(project_create)(name="Schema blanks")
    validator = _request_validator(await _schema(api), "TestCaseCreateRequest")
    body = {"name": "   ", "test_code": "assert True\n"}
    response = await api.post(f"/projects/{project.id}/tests", json=body)
    print("spaces-only test name ->", response.status_code, response.text)
    assert response.status_code == 400
    assert not validator.is_valid(body)
    assert validator.is_valid({**body, "name": " x "})
    nul = {"name": "a\x00b", "test_code": "assert True\n"}
    assert (await api.post(f"/projects/{project.id}/tests", json=nul)).status_code == 400
    assert not validator.is_valid(nul)
    assert not validator.is_valid({"name": "ok", "test_code": "assert True  # \x00\n"})


async def test_an_empty_string_where_blank_is_allowed_is_inside_the_schema(api):
    """`prompt: ""` on refine-message is taken (no hint); its schema is `oneOf: [string, {maxLength: 0}]`,
    so "" must match exactly one of the two (it matched both, and the schema refused it)."""
    validator = _request_validator(await _schema(api), "RefineMessageRequest")
    assert validator.is_valid({"prompt": "", "current_message": ""})
    assert validator.is_valid({"prompt": "shorter", "current_message": None})
    assert not validator.is_valid({"prompt": "a\x00b"})


async def test_an_empty_test_ids_list_is_refused_by_the_schema_as_by_the_service(api):
    validator = _request_validator(await _schema(api), "DiffTestRequestRequest")
    assert not validator.is_valid({"test_ids": []})
    assert validator.is_valid({})


async def test_an_empty_status_filter_lists_every_diff_as_the_schema_says(api):
    document = await _schema(api)
    parameter = next(
        p for p in document["paths"]["/projects/{project_id}/diffs"]["get"]["parameters"] if p["name"] == "status"
    )
    assert "" in parameter["schema"]["enum"]
    project = await sync_to_async(project_create)(name="Schema filter")
    every = (await api.get(f"/projects/{project.id}/diffs")).json()
    blank = await api.get(f"/projects/{project.id}/diffs?status=")
    assert blank.status_code == 200
    assert blank.json() == every
    assert (await api.get(f"/projects/{project.id}/diffs?status={Diff.Status.COMMITTED}")).status_code == 200


async def test_a_commit_parameter_that_is_not_a_full_id_is_outside_the_schema_and_a_400(api):
    document = await _schema(api)
    project = await sync_to_async(project_create)(name="Schema commit")
    for path in ("/projects/{project_id}/workflow.py", "/projects/{project_id}/graph"):
        parameter = next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "commit")
        validator = jsonschema_rs.Draft4Validator(parameter["schema"])
        assert not validator.is_valid("") and not validator.is_valid("abc123")
        assert validator.is_valid(project.current_commit)
        url = path.replace("{project_id}", str(project.id))
        assert (await api.get(f"{url}?commit=")).status_code == 400
        assert (await api.get(f"{url}?commit={project.current_commit}")).status_code == 200


async def test_links_lead_from_a_new_project_to_its_session_and_messages(api):
    document = await _schema(api)
    operations = {op["operationId"]: op for item in document["paths"].values() for op in item.values()}
    created = document["paths"]["/projects"]["post"]["responses"]["201"]["links"]
    assert created["GetProject"] == {
        "operationId": "projects_retrieve",
        "parameters": {"project_id": "$response.body#/id"},
    }
    session_links = document["paths"]["/projects/{project_id}/sessions"]["post"]["responses"]["201"]["links"]
    assert session_links["SendMessage"]["operationId"] == "sessions_messages_create"
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in operations
