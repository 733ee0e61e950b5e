"""Fixtures shared by every test: an isolated media root, the model double, API and socket clients."""

import ipaddress
import json
import socket as socket_module
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from model_double import ModelDouble

pytest_plugins = ["model_double.pytest_fixtures"]

# No reaper in the test process, for the whole session: serving processes start one with their first
# request, and a module that loads the API schema when it is imported (tests/test_schema_fuzz.py) would
# otherwise start one, outside any test, in an event loop that lives on in the background. Tests call
# `runs_reap` themselves; the servers and workers that tests start run their own.
settings.RUN_REAPER_ENABLED = False

# Every database connection the test process opens, on any thread. Threads that serve no request (the
# shared sync thread, event loops' executors) keep theirs for good; with PostgreSQL each holds one of the
# pool's connections, and the test database could not be dropped at the end ("being accessed by other
# users"). Held here, they are closed before the database is dropped (`thread_connections_closed`).
_opened: set[BaseDatabaseWrapper] = set()


def _remember(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    _opened.add(connection)


connection_created.connect(_remember, dispatch_uid="conftest.remember_connections")


@pytest.fixture(scope="session", autouse=True)
def thread_connections_closed(django_db_setup) -> Iterator[None]:
    yield  # torn down before django_db_setup, which drops the test database
    for wrapper in _opened:
        if wrapper.connection is None:
            continue
        wrapper.inc_thread_sharing()  # its thread is idle or gone: the session is over
        try:
            wrapper.close()
        finally:
            wrapper.dec_thread_sharing()


_real_connect = socket_module.socket.connect
_real_connect_ex = socket_module.socket.connect_ex


def _refuse_non_loopback(address: Any) -> None:
    """Tests reach only the project's own local servers: a connection anywhere else fails the test loudly."""
    if not isinstance(address, tuple):
        return  # a Unix socket path (PostgreSQL, Redis) stays on this machine
    host = str(address[0])
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise RuntimeError(f"Network access blocked in tests: tried to connect to {address!r}; only loopback is allowed.")


def _guarded_connect(self: socket_module.socket, address: Any) -> None:
    _refuse_non_loopback(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket_module.socket, address: Any) -> int:
    _refuse_non_loopback(address)
    return _real_connect_ex(self, address)


socket_module.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
socket_module.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]


@pytest.fixture(autouse=True)
def fresh_cache(settings) -> None:
    """Every test gets its own cache namespace: the vibecode throttle counts requests per client in the
    cache, which outlives a test, so a module's earlier tests would otherwise use up a later one's rate."""
    settings.CACHES = {
        alias: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"} for alias, config in settings.CACHES.items()
    }


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings) -> Path:
    """Every test gets its own media folder (git repositories, conversation files)."""
    settings.MEDIA_PATH = tmp_path / "media"
    settings.MEDIA_PATH.mkdir()
    settings.RUN_REAPER_ENABLED = False
    return settings.MEDIA_PATH


@pytest.fixture
def no_provider(settings) -> None:
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""


@pytest.fixture
def provider(model_double: ModelDouble, settings) -> Iterator[ModelDouble]:
    """The service talks to the model double through the real openai client."""
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = model_double.base_url
    settings.OPENAI_MAX_RETRIES = 0
    settings.OPENAI_TIMEOUT_S = 10.0
    settings.VIBECODER_MODEL = "gpt-5-mini"
    settings.EVALUATOR_MODEL = "gpt-5-mini"
    yield model_double


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    """HTTP against the real ASGI application, in this test's event loop."""
    from vibegrapher.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


class Socket:
    """A WebSocket client of the real ASGI application that collects `{"type", "data"}` events."""

    def __init__(self, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        from vibegrapher.asgi import application

        self.communicator = WebsocketCommunicator(application, path, headers=headers or [])
        self.received: list[dict] = []

    async def connect(self, timeout: float = 1.0) -> tuple[bool, int | None]:
        return await self.communicator.connect(timeout=timeout)

    async def receive(self, timeout: float = 5.0) -> dict:
        message = json.loads(await self.communicator.receive_from(timeout=timeout))
        self.received.append(message)
        return message

    async def receive_until(self, event_type: str, timeout: float = 10.0) -> dict:
        while True:
            message = await self.receive(timeout=timeout)
            if message["type"] == event_type:
                return message

    async def send(self, message: dict) -> None:
        await self.communicator.send_json_to(message)

    async def close(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
async def socket_factory() -> AsyncIterator:
    sockets: list[Socket] = []

    def make(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Socket:
        socket = Socket(path, headers)
        sockets.append(socket)
        return socket

    yield make
    for socket in sockets:
        await socket.close()
