"""Start the service's own processes (web servers, workers) against the test database."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# Importing openai-agents alone takes seconds; on a loaded 2-core CI machine a start takes 20 s and more.
STARTUP_TIMEOUT_S = 90.0


def test_database_url() -> str:
    """The URL of the database this test process is using (the test database, not the configured one)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgresql://{credentials}{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "VIBEGRAPHER_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="vibegrapher.settings",
        DATABASE_URL=test_database_url(),
        MEDIA_PATH=str(settings.MEDIA_PATH),
        OPENAI_API_KEY=settings.OPENAI_API_KEY or "",
        OPENAI_BASE_URL=settings.OPENAI_BASE_URL or "",
        OPENAI_MAX_RETRIES=str(settings.OPENAI_MAX_RETRIES),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def start_worker(log_path: Path, poll: float = 0.05, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "vibecode_worker", "--poll", str(poll)],
        cwd=ROOT,
        env=service_env(VIBECODE_EXECUTOR="worker", **env),
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )


def start_web(log_path: Path, **env: str) -> tuple[subprocess.Popen, str]:
    """A daphne instance on a free port; returns (process, base URL) once /health answers."""
    return _start_server(lambda port: _module_server("daphne", "-b", "127.0.0.1", "-p", str(port)), log_path, env)


def start_uvicorn(log_path: Path, **env: str) -> tuple[subprocess.Popen, str]:
    """The production server as scripts/start-web runs it (proxy headers on), on a free port."""
    return _start_server(
        lambda port: _module_server("uvicorn", "--host", "127.0.0.1", "--port", str(port), "--proxy-headers"),
        log_path,
        env,
    )


def start_production(log_path: Path, **env: str) -> tuple[subprocess.Popen, str]:
    """`scripts/start-web` itself (the Docker image's command) on 127.0.0.1 and a free port."""
    return _start_server(lambda port: ["scripts/start-web"], log_path, {"HOST": "127.0.0.1", **env}, port_env=True)


def _module_server(*server: str) -> list[str]:
    return [sys.executable, "-m", *server, "vibegrapher.asgi:application"]


def _start_server(
    command: Callable[[int], list[str]], log_path: Path, env: dict[str, str], *, port_env: bool = False
) -> tuple[subprocess.Popen, str]:
    """Start `command(port)` on a free port (also given as $PORT with `port_env`); returns (process,
    base URL) once /health answers."""
    port = free_port()
    process = subprocess.Popen(
        command(port),
        cwd=ROOT,
        env=service_env(**env, **({"PORT": str(port)} if port_env else {})),
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base_url, log_path)
    except RuntimeError:
        process.kill()
        raise
    return process, base_url


def wait_until_healthy(
    process: subprocess.Popen, base_url: str, log_path: Path, timeout_s: float = STARTUP_TIMEOUT_S
) -> None:
    """Return once `base_url`/health answers 200; RuntimeError (with the log's tail) if the server exits
    or does not answer in `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited during start: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer /health within {timeout_s:g} s: {log_path.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
