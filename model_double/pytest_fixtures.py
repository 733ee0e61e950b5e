"""Optional pytest fixtures. Enable them with ``pytest_plugins = ["model_double.pytest_fixtures"]``
in a conftest.py (or import the fixtures there).

* ``model_double_server``: one running :class:`ModelDouble` for the whole session.
* ``model_double``: the same server, reset before the test; fails the test if the double
  recorded script errors (``match`` mismatches) during it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import ModelDouble


@pytest.fixture(scope="session")
def model_double_server() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


@pytest.fixture
def model_double(model_double_server: ModelDouble) -> Iterator[ModelDouble]:
    model_double_server.reset()
    model_double_server.default_delay = 0.0
    model_double_server.stream_gap = 0.0
    yield model_double_server
    errors = model_double_server.errors
    model_double_server.reset()
    model_double_server.stream_gap = 0.0
    if errors:
        pytest.fail("model double script errors:\n" + "\n".join(errors))
