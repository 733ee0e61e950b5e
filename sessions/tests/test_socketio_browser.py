"""The official socket.io-client (npm, installed by .ci/run into node_modules) in a real headless
Chromium subscribes to a project and shows the events of a run started through the API.

Needs the Debian packages `chromium` and `chromium-driver`, selenium and `npm install` at the
repository root; skipped with the reason otherwise.
"""

import functools
import http.server
import shutil
import threading
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from diffs.tests.test_admin_browser import CHROMEDRIVER, CHROMIUM, browser  # noqa: F401  (the fixture)
from model_double.script import evaluation, patch
from projects.services import project_create
from sessions.tests.test_socketio_events import server  # noqa: F401  (the fixture)
from sessions.tests.test_vibecode_flow import PATCH

CLIENT = Path(settings.BASE_DIR) / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install -y chromium chromium-driver)",
    ),
    pytest.mark.skipif(not CLIENT.exists(), reason=f"needs {CLIENT} (npm install at the repository root)"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="needs the selenium package")
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PAGE = """<!doctype html>
<html><head><script src="socket.io.min.js"></script></head>
<body><ol id="events"></ol>
<script>
  const params = new URLSearchParams(location.search);
  const socket = io(params.get("server"));
  socket.on("connect", () => socket.emit("join_project", {project_id: params.get("project")}));
  socket.onAny((name, data, seq) => {
    const item = document.createElement("li");
    item.textContent = JSON.stringify({name, data, seq: seq === undefined ? null : seq});
    document.getElementById("events").appendChild(item);
  });
</script></body></html>
"""


@pytest.fixture
def page_url(tmp_path):
    (tmp_path / "index.html").write_text(PAGE)
    shutil.copy(CLIENT, tmp_path / "socket.io.min.js")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()


def shown(driver) -> list[dict]:
    import json

    return [
        json.loads(text)
        for text in driver.execute_script(
            "return [...document.querySelectorAll('#events li')].map(li => li.textContent)"
        )
    ]


def test_the_browser_shows_the_events_of_a_run(server, page_url, browser, provider):  # noqa: F811
    project = project_create(name="Browser Socket IO")
    provider.script(
        patch(PATCH, "Make the assistant a pirate", usage=(120, 30), match="vibecoder"),
        evaluation(True, "Does what was asked.", "Pirate speak", usage=(200, 40), match="evaluator"),
    )
    browser.get(f"{page_url}?server={server}&project={project.id}")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda driver: any(event["name"] == "subscribed" for event in shown(driver)))
    session = httpx.post(f"{server}/projects/{project.id}/sessions", json={}).json()
    result = httpx.post(f"{server}/sessions/{session['id']}/messages", json={"prompt": "Pirate"}, timeout=60).json()
    print("run ->", result["status"])
    wait.until(lambda driver: any(event["name"] == "vibecode_response" for event in shown(driver)))
    events = shown(browser)
    names = [event["name"] for event in events]
    print("the page shows:", names)
    stored = [name for name in names if name not in ("subscribed", "heartbeat", "message_delta")]
    assert stored == [
        "conversation_message",
        "conversation_message",
        "token_usage",
        "conversation_message",
        "token_usage",
        "diff_created",
        "vibecode_response",
    ]
    assert events[-1]["data"]["diff_id"] == result["diff_id"] and isinstance(events[-1]["seq"], int)
    assert "message_delta" in names, "streamed model output reaches the browser"
