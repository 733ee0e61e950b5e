"""git clone / fetch / push against a real server process with the real `git` client, protocol v0 and v2."""

import subprocess
from pathlib import Path

import httpx
import pytest

from diffs.tests.builders import PIRATE_CODE, approved_diff, project_with_session
from tests.processes import start_web, stop

pytestmark = pytest.mark.django_db(transaction=True)


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    environment = {
        "GIT_TERMINAL_PROMPT": "0",
        "PATH": "/usr/bin:/bin",
        "HOME": "/nonexistent",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    result = subprocess.run(["git", *args], cwd=cwd, env=environment, capture_output=True, text=True, check=False)
    print("$ git", " ".join(args), "->", result.returncode, result.stderr.strip()[-300:])
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def server(tmp_path):
    process, base = start_web(tmp_path / "web.log")
    yield base
    stop(process)


@pytest.fixture
def token_server(tmp_path):
    process, base = start_web(tmp_path / "web.log", VIBEGRAPHER_API_TOKEN="s3cret")
    yield base
    stop(process)


@pytest.mark.parametrize("version", ["0", "2"])
def test_clone_fetch_and_refused_push(server, tmp_path, version):
    project, session = project_with_session(name=f"Clone v{version}")
    url = f"{server}/git/{project.slug}.git"
    clone = tmp_path / "clone"
    git("-c", f"protocol.version={version}", "clone", url, str(clone))
    assert (clone / "workflow.py").read_text() == project.current_code
    assert git("rev-parse", "HEAD", cwd=clone).stdout.strip() == project.current_commit

    diff = approved_diff(project=project, session=session, new_code=PIRATE_CODE)
    committed = httpx.post(f"{server}/diffs/{diff.id}/commit", json={}, timeout=30)
    assert committed.status_code == 200, committed.text
    git("-c", f"protocol.version={version}", "fetch", "origin", cwd=clone)
    assert git("rev-parse", "origin/main", cwd=clone).stdout.strip() == committed.json()["committed_sha"]
    assert git("show", "origin/main:workflow.py", cwd=clone).stdout == PIRATE_CODE

    git("-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "--allow-empty", "-m", "x", cwd=clone)
    pushed = git("-c", f"protocol.version={version}", "push", "origin", "HEAD:main", cwd=clone, check=False)
    assert pushed.returncode != 0
    assert "403" in pushed.stderr or "read-only" in pushed.stderr
    head = httpx.get(f"{server}/projects/{project.id}", timeout=10).json()["current_commit"]
    assert head == committed.json()["committed_sha"]


def test_unknown_slug_is_404(server, tmp_path):
    result = git("clone", f"{server}/git/no-such-project.git", str(tmp_path / "c"), check=False)
    assert result.returncode != 0 and "404" in result.stderr


def test_with_a_token_git_needs_it(token_server, tmp_path):
    project, _ = project_with_session(name="Token clone")
    bare = f"{token_server}/git/{project.slug}.git"
    refused = httpx.get(f"{bare}/info/refs", params={"service": "git-upload-pack"}, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert git("clone", bare, str(tmp_path / "none"), check=False).returncode != 0
    with_password = bare.replace("http://", "http://anyone:s3cret@")
    git("clone", with_password, str(tmp_path / "basic"))
    bearer = ["-c", "http.extraHeader=Authorization: Bearer s3cret"]
    git(*bearer, "clone", bare, str(tmp_path / "bearer"))
    assert (tmp_path / "bearer" / "workflow.py").read_text() == project.current_code
