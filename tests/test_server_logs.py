"""Every line the servers log has the service's format (SPEC 8): the development server (daphne, as
`scripts/serve` runs it) and the production one (`scripts/start-web`, uvicorn), access lines included."""

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.processes import ROOT, free_port, service_env, stop, wait_until_healthy

pytestmark = pytest.mark.django_db(transaction=True)

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [\w.]+ - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")


def serve_and_read_log(command: list[str], port: int, log_path: Path, **env: str) -> list[str]:
    process = subprocess.Popen(
        command, cwd=ROOT, env=service_env(**env), stdout=log_path.open("w"), stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base_url, log_path)
        assert httpx.get(f"{base_url}/projects").status_code == 200
        with connect(f"ws://127.0.0.1:{port}/ws") as socket:
            socket.send('{"type": "ping"}')
            socket.recv(timeout=10)
        time.sleep(0.5)
    finally:
        stop(process)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    print(f"{' '.join(command)}:", *lines, sep="\n  ")
    return lines


def test_the_development_server_logs_every_line_in_the_service_format(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port)]  # as scripts/serve
    lines = serve_and_read_log([*command, "vibegrapher.asgi:application"], port, tmp_path / "daphne.log")
    assert [line for line in lines if not LOG_LINE.match(line)] == []


def test_the_production_server_logs_its_own_and_access_lines_in_the_service_format(tmp_path):
    port = free_port()
    lines = serve_and_read_log(
        ["scripts/start-web"], port, tmp_path / "uvicorn.log", HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1"
    )
    assert [line for line in lines if not LOG_LINE.match(line)] == []
    assert any(
        " - uvicorn.access - INFO - 127.0.0.1:" in line and '"GET /projects HTTP/1.1" 200' in line for line in lines
    )
    assert any(" - uvicorn.error - INFO - Started server process" in line for line in lines)
