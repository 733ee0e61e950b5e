"""Fixtures of the sessions tests."""

import pytest
from asgiref.sync import sync_to_async

from projects.services import project_create


@pytest.fixture
async def session(api) -> dict:
    """A global vibecode session of a new project (its starter workflow), as the API returns it."""
    project = await sync_to_async(project_create)(name="Vibecode")
    response = await api.post(f"/projects/{project.id}/sessions", json={})
    assert response.status_code == 201, response.text
    return response.json()
