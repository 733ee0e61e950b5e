"""Let these tests also run with ``-p no:django``: the repository's root conftest has an autouse
fixture that needs pytest-django's ``settings``; without pytest-django it gets a stand-in."""

from __future__ import annotations

import types

import pytest


class _StandInSettings:
    @pytest.fixture
    def settings(self) -> types.SimpleNamespace:
        return types.SimpleNamespace()


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("django"):
        config.pluginmanager.register(_StandInSettings(), "model-double-stand-in-settings")
