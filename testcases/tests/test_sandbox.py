"""Hostile tests for testcases.sandbox.

Run with:  .venv/bin/pytest -p no:django testcases/tests/test_sandbox.py -q
(no Django settings needed: the sandbox module never imports Django).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from testcases import sandbox as sb
from testcases.sandbox import SandboxResult, SandboxUnavailable, sandbox_capabilities, sandbox_run

PROJECT_DIR = Path(sb.__file__).resolve().parent.parent
RUNNER_MARKER = "vg-runner.py"

WORKFLOW = """
VALUE = 42
GREETING = "hello from workflow"
"""


@pytest.fixture(autouse=True)
def media_root():
    """Overrides the project conftest's autouse ``media_root`` (which needs pytest-django's
    ``settings``): the sandbox never touches Django, so these tests also run with -p no:django."""


def run(test_code: str, workflow_code: str = WORKFLOW, timeout_s: float = 20.0, **kw) -> SandboxResult:
    return sandbox_run(workflow_code=workflow_code, test_code=test_code, timeout_s=timeout_s, **kw)


def error_text(r: SandboxResult) -> str:
    assert r.error is not None, r
    return r.error


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")


def _started_by_another_test_run(pid: int) -> bool:
    """Whether pid descends from another pytest process (the machine may run several test
    sessions at once); processes of this run, or orphaned ones, are not."""
    while pid > 1:
        if pid == os.getpid():
            return False
        try:
            if "pytest" in _cmdline(pid):
                return True
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


def _procs_with(marker: str) -> list[str]:
    """Command lines of live (non-zombie) processes of this test run whose cmdline contains marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = _cmdline(int(entry))
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z" and not _started_by_another_test_run(int(entry)):
            found.append(f"{entry}: {cmdline[:120]}")
    return found


def _wait_no_procs(marker: str, seconds: float = 3.0) -> list[str]:
    end = time.monotonic() + seconds
    while True:
        left = _procs_with(marker)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


# --------------------------------------------------------------------- basics


def test_passing_test_passes():
    r = run("import workflow\nassert workflow.VALUE == 42\nprint('all good')\n")
    assert r.status == "passed", r
    assert r.error is None
    assert "all good" in r.output
    assert r.execution_time_ms >= 0


def test_assert_false_is_failed_with_message():
    r = run('assert False, "boom"\n')
    assert r.status == "failed", r
    assert "boom" in error_text(r)
    assert "AssertionError" in r.output


def test_other_exception_is_error():
    r = run('raise ValueError("x")\n')
    assert r.status == "error", r
    assert "ValueError: x" in error_text(r)
    assert "ValueError" in r.output


def test_test_functions_are_called_in_order():
    r = run(
        "import workflow\n"
        "def test_one():\n    print('one ran')\n    assert workflow.VALUE == 42\n"
        "def test_two():\n    print('two ran')\n    assert 1 == 2\n"
        "def test_three():\n    print('three ran')\n"
    )
    assert r.status == "failed", r
    assert "assert 1 == 2" in error_text(r)
    assert "one ran" in r.output and "two ran" in r.output
    assert "three ran" not in r.output  # stops at the first failure
    assert r.output.index("one ran") < r.output.index("two ran")
    # runner internals are not shown to the user
    assert "<string>" not in r.output


def test_passing_test_functions_and_async_tests():
    r = run(
        "import workflow\n"
        "def test_value():\n    assert workflow.VALUE == 42\n"
        "async def test_async():\n    import asyncio\n    await asyncio.sleep(0)\n    print('async ran')\n"
    )
    assert r.status == "passed", r
    assert "async ran" in r.output


def test_test_function_with_fixture_args_is_error():
    r = run("def test_needs(tmp_path):\n    pass\n")
    assert r.status == "error", r
    assert "fixtures" in error_text(r)


def test_import_workflow_sees_the_given_code():
    r = run("import workflow\nprint(workflow.GREETING)\nassert workflow.VALUE == 42\n")
    assert r.status == "passed", r
    assert "hello from workflow" in r.output
    r = run("import workflow\nassert workflow.VALUE == 42\n", workflow_code="VALUE = 7\n")
    assert r.status == "failed", r


def test_error_in_workflow_module_is_error():
    r = run("import workflow\n", workflow_code="raise RuntimeError('broken workflow')\n")
    assert r.status == "error", r
    assert "broken workflow" in error_text(r)
    r = run("import workflow\n", workflow_code="def oops(:\n")
    assert r.status == "error", r
    assert "SyntaxError" in error_text(r)


def test_agents_sdk_is_importable_from_the_workflow():
    workflow = "from agents import Agent\ntriage = Agent(name='Triage', instructions='Route the user.')\n"
    test = (
        "import workflow\n"
        "from agents import Agent\n"
        "def test_agent():\n"
        "    assert isinstance(workflow.triage, Agent)\n"
        "    assert workflow.triage.name == 'Triage'\n"
    )
    r = run(test, workflow_code=workflow, timeout_s=60)
    assert r.status == "passed", r


AGENTS_WORKFLOW = "from agents import Agent\nassistant_agent = Agent(name='Assistant', instructions='Be brief.')\n"


def test_agents_start_up_does_not_count_against_the_test_timeout():
    # `import agents` alone costs seconds of CPU; it happens before the test's clock starts.
    t0 = time.monotonic()
    r = run(
        "import workflow\nassert workflow.assistant_agent.name == 'Assistant'\n",
        workflow_code=AGENTS_WORKFLOW,
        timeout_s=1,
    )
    assert r.status == "passed", r
    assert r.execution_time_ms < 1000, r
    print(f"start-up + test took {time.monotonic() - t0:.1f} s, the test {r.execution_time_ms} ms")


def test_the_timeout_still_applies_after_start_up():
    r = run(
        "import workflow\nwhile True:\n    pass\n",
        workflow_code=AGENTS_WORKFLOW,
        timeout_s=1,
    )
    assert r.status == "timeout", r
    assert r.error == "Timed out after 1.0 s"
    assert 1000 <= r.execution_time_ms < 2000, r


def test_slow_start_up_is_a_timeout_with_its_own_message():
    r = run("import workflow\n", workflow_code=AGENTS_WORKFLOW, timeout_s=5, startup_s=0.05)
    assert r.status == "timeout", r
    assert r.error == "Sandbox start-up took more than 0.05 s"
    assert r.execution_time_ms == 0


def test_project_modules_are_not_importable():
    r = run(
        "import importlib, os\n"
        "for mod in ('testcases', 'vibegrapher', 'vibegrapher.settings'):\n"
        "    try:\n"
        "        importlib.import_module(mod)\n"
        "    except ImportError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError('imported ' + mod)\n"
        "assert 'DJANGO_SETTINGS_MODULE' not in os.environ\n"
    )
    assert r.status == "passed", r


def test_tmpdir_is_cwd_and_is_deleted_afterwards():
    r = run(
        "import os, workflow\n"
        "print('CWD=' + os.getcwd())\n"
        "assert os.path.dirname(os.path.abspath(workflow.__file__)) == os.getcwd()\n"
        "open('scratch.txt', 'w').write('x' * 1000)\n"
        "os.makedirs('locked/dir')\n"
        "os.chmod('locked', 0)\n"
    )
    assert r.status == "passed", r
    cwd = next(line[4:] for line in r.output.splitlines() if line.startswith("CWD="))
    assert not os.path.exists(cwd)


@pytest.mark.parametrize(
    "code,status",
    [
        ("import sys\nsys.exit(0)\nassert False\n", "passed"),
        ("import sys\nsys.exit()\n", "passed"),
        ("import os\nos._exit(0)\n", "passed"),
        ("import sys\nsys.exit(1)\n", "failed"),
        ("import sys\nsys.exit('workflow has no triage agent')\n", "failed"),
        ("import os\nos._exit(1)\n", "failed"),
        ("import os\nos._exit(3)\n", "failed"),  # not taken for the runner's MemoryError code
    ],
)
def test_a_test_that_exits_by_itself_is_judged_by_its_exit_status(code, status):
    r = run(code)
    print(f"{code!r} -> {r.status} ({r.error})")
    assert r.status == status, r
    if status == "failed":
        assert "exited with status" in error_text(r)


def test_sys_exit_with_a_message_shows_it():
    r = run("import sys\nsys.exit('workflow has no triage agent')\n")
    assert "workflow has no triage agent" in r.output
    assert "workflow has no triage agent" in error_text(r)


UNITTEST_CASE = """
import unittest
import workflow

class TestWorkflow(unittest.TestCase):
    def setUp(self):
        self.value = workflow.VALUE

    def test_value(self):
        self.assertEqual(self.value, {expected})
"""


@pytest.mark.parametrize("main", ["", "\nif __name__ == '__main__':\n    unittest.main()\n"])
@pytest.mark.parametrize("expected,status", [(42, "passed"), (41, "failed")])
def test_unittest_test_cases_run_with_or_without_unittest_main(main, expected, status):
    r = run(UNITTEST_CASE.format(expected=expected) + main)
    print(f"unittest.main: {bool(main)}, expects {expected} -> {r.status} ({r.error})\n{r.output}")
    assert r.status == status, r
    if main:
        assert "Ran 1 test" in r.output


def test_methods_of_plain_test_classes_are_run():
    r = run("class TestPlain:\n    def test_fails(self):\n        assert 1 == 2\n")
    assert r.status == "failed", r
    assert "assert 1 == 2" in error_text(r)


def test_nul_characters_in_output_and_error_are_replaced():
    r = run('print("a\\x00b")\nassert False, "x\\x00y"\n')
    assert r.status == "failed", r
    assert "a\ufffdb" in r.output and "\x00" not in r.output
    assert "x\ufffdy" in error_text(r) and "\x00" not in error_text(r)


# ----------------------------------------------------------------- resources


def test_infinite_loop_times_out():
    t0 = time.monotonic()
    r = run("while True:\n    pass\n", timeout_s=2)
    elapsed = time.monotonic() - t0
    assert r.status == "timeout", r
    assert "Timed out after 2.0 s" == r.error
    assert elapsed < 3.0, elapsed
    assert _wait_no_procs(RUNNER_MARKER) == []


def test_sleeping_test_times_out():
    t0 = time.monotonic()
    r = run("import time\ntime.sleep(60)\n", timeout_s=1)
    assert r.status == "timeout", r
    assert time.monotonic() - t0 < 2.0


def test_memory_hog_hits_the_limit_and_is_a_timeout():
    # SPEC section 6: a limit hit is `timeout`; the error names the limit.
    t0 = time.monotonic()
    r = run("data = bytearray(2 * 1024 ** 3)\nprint(len(data))\n", timeout_s=10)
    assert r.status == "timeout", r
    assert "Memory limit exceeded" in error_text(r)
    assert time.monotonic() - t0 < 5.0
    # gradual growth is caught too
    r = run(
        "chunks = []\nwhile True:\n    chunks.append(b'x' * 10_000_000)\n",
        timeout_s=10,
        memory_mb=256,
    )
    assert r.status == "timeout", r
    assert "Memory limit exceeded" in error_text(r)


def test_fork_bomb_is_contained():
    detached = True
    marker = f"forkbomb-{uuid.uuid4().hex}"
    code = "import os, sys\n"
    if detached:
        # a few detached sleepers carrying a marker: they must not survive the run
        code += (
            "for _ in range(3):\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"
            "        os.execv(sys.executable,"
            f" [sys.executable, '-c', 'import time; time.sleep(300)', {marker!r}])\n"
        )
    code += "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    t0 = time.monotonic()
    r = run(code, timeout_s=3)
    elapsed = time.monotonic() - t0
    assert r.status in ("timeout", "error"), r
    assert elapsed < 4.0, elapsed
    assert _wait_no_procs(marker) == []
    assert _wait_no_procs(RUNNER_MARKER) == []
    # the server is still responsive and sandboxes still work
    t0 = time.monotonic()
    r = run("import workflow\nassert workflow.VALUE == 42\n")
    assert r.status == "passed", r
    assert time.monotonic() - t0 < 3.0


def test_detached_grandchild_does_not_outlive_a_passing_test():
    marker = f"orphan-{uuid.uuid4().hex}"
    code = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    os.execv(sys.executable,"
        f" [sys.executable, '-c', 'import time; time.sleep(300)', {marker!r}])\n"
        "print('parent done')\n"
    )
    t0 = time.monotonic()
    r = run(code, timeout_s=10)
    assert r.status == "passed", r
    assert time.monotonic() - t0 < 5.0  # did not wait for the sleeper
    assert _wait_no_procs(marker) == []


def test_output_flood_is_capped():
    t0 = time.monotonic()
    r = run(
        "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)\nprint('end')\n",
        timeout_s=30,
        output_limit=10_000,
    )
    assert r.status == "passed", r
    assert len(r.output) <= 10_000
    assert "truncated" in r.output
    assert time.monotonic() - t0 < 20


def test_output_flood_until_timeout_is_capped():
    r = run("while True:\n    print('y' * 10000)\n", timeout_s=2, output_limit=5_000)
    assert r.status == "timeout", r
    assert len(r.output) <= 5_000


def test_big_file_write_is_limited():
    r = run(
        "with open('big.bin', 'wb') as fh:\n    fh.write(b'x' * (50 * 1024 * 1024))\n",
        timeout_s=10,
    )
    assert r.status == "error", r


# ---------------------------------------------------------------- isolation


def test_environment_is_scrubbed(monkeypatch):
    secrets_env = {
        "OPENAI_API_KEY": "sk-secret-123",
        "DATABASE_URL": "postgres://user:pw@db/prod",
        "SECRET_KEY": "django-secret-xyz",
        "REDIS_URL": "redis://secret-redis:6379",
        "VIBEGRAPHER_ADMIN_TOKEN": "vg-token-456",
    }
    for k, v in secrets_env.items():
        monkeypatch.setenv(k, v)
    r = run(
        "import os\n"
        "print(sorted(os.environ))\n"
        "for key in ('OPENAI_API_KEY', 'DATABASE_URL', 'SECRET_KEY', 'REDIS_URL', 'VIBEGRAPHER_ADMIN_TOKEN'):\n"
        "    assert key not in os.environ, key\n"
        "assert not [k for k in os.environ if k.startswith('VIBEGRAPHER')]\n"
        # nor via /proc of the parent processes
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit():\n"
        "        try:\n"
        "            data = open(f'/proc/{pid}/environ', 'rb').read()\n"
        "        except OSError:\n"
        "            continue\n"
        "        assert b'sk-secret-123' not in data, pid\n"
    )
    assert r.status == "passed", r
    for v in secrets_env.values():
        assert v not in r.output


def test_network_is_isolated():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    try:
        r = run(
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "except OSError as exc:\n"
            "    print('blocked:', exc)\n"
            "else:\n"
            "    raise AssertionError('connected to the host')\n"
            "try:\n"
            "    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
            "except OSError as exc:\n"
            "    print('blocked:', exc)\n"
            "else:\n"
            "    raise AssertionError('reached the internet')\n"
        )
        assert r.status == "passed", r
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()


def test_writes_outside_tmpdir_fail_or_do_not_persist():
    unique = uuid.uuid4().hex
    tmp_target = f"/tmp/sandbox-escape-{unique}"
    project_target = PROJECT_DIR / f"sandbox-escape-{unique}"
    var_tmp_target = f"/var/tmp/sandbox-escape-{unique}"
    r = run(
        "results = {}\n"
        f"for path in ({tmp_target!r}, {str(project_target)!r}, {var_tmp_target!r}, '/etc/sandbox-escape-{unique}'):\n"
        "    try:\n"
        "        with open(path, 'w') as fh:\n"
        "            fh.write('escaped')\n"
        "        results[path] = 'written'\n"
        "    except OSError as exc:\n"
        "        results[path] = type(exc).__name__\n"
        "print(results)\n"
        # the project's files (e.g. .env, settings) are not even visible
        f"import os\nassert not os.path.exists({str(PROJECT_DIR / 'testcases' / 'sandbox.py')!r})\n"
    )
    assert r.status == "passed", r
    try:
        assert not os.path.exists(tmp_target)
        assert not project_target.exists()
        assert not os.path.exists(var_tmp_target)
        assert not os.path.exists(f"/etc/sandbox-escape-{unique}")
    finally:
        for p in (
            tmp_target,
            str(project_target),
            var_tmp_target,
            f"/etc/sandbox-escape-{unique}",
        ):
            if os.path.exists(p):
                os.unlink(p)


def test_disk_usage_is_bounded():
    r = run(
        "import errno, os\n"
        "for i in range(100):\n"
        "    try:\n"
        "        with open(f'junk{i}.bin', 'wb') as fh:\n"
        "            fh.write(b'x' * (5 * 1024 * 1024))\n"
        "    except OSError as exc:\n"
        "        assert exc.errno == errno.ENOSPC, exc\n"
        "        print('disk full after', i, 'files')\n"
        "        break\n"
        "else:\n"
        "    raise AssertionError('wrote 500 MiB')\n",
        timeout_s=20,
    )
    assert r.status == "passed", r


def test_runs_unprivileged():
    r = run("import os\nprint('UID', os.getuid(), os.geteuid())\nprint(open('/proc/self/status').read())\n")
    assert r.status == "passed", r
    capeff = next(line.split()[1] for line in r.output.splitlines() if line.startswith("CapEff:"))
    assert int(capeff, 16) == 0, capeff
    uid = int(next(line.split()[1] for line in r.output.splitlines() if line.startswith("UID")))
    assert uid != 0


# --------------------------------------------------------------- concurrency


def test_many_sandboxes_in_parallel():
    def one(i: int) -> SandboxResult:
        return run(
            f"import workflow\nassert workflow.VALUE == {i}\nprint('run', {i})\n",
            workflow_code=f"VALUE = {i}\n",
            timeout_s=30,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(8)))
    for i, r in enumerate(results):
        assert r.status == "passed", (i, r)
        assert f"run {i}" in r.output


def test_parallel_fork_bomb_does_not_starve_other_runs():
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    results: dict[str, SandboxResult] = {}

    def bomber():
        results["bomb"] = run(bomb, timeout_s=4)

    t = threading.Thread(target=bomber)
    t.start()
    time.sleep(0.5)
    results["ok"] = run("import workflow\nassert workflow.VALUE == 42\n", timeout_s=20)
    t.join()
    assert results["ok"].status == "passed", results["ok"]
    assert results["bomb"].status in ("timeout", "error")


def test_capabilities_report_what_is_in_force():
    assert sandbox_capabilities() == {
        "mode": "bubblewrap",
        "isolation": ["read-only-system", "private-tmp", "no-network", "pid-namespace", "scrubbed-env", "rlimits"],
        "available": True,
        "reason": None,
    }


# ------------------------------------------------------------------ hostile


def test_a_test_cannot_write_another_projects_repository(tmp_path, monkeypatch):
    media = tmp_path / "media"
    other = media / "repos" / "other-project"
    other.mkdir(parents=True)
    (other / "workflow.py").write_text("VALUE = 1\n")
    monkeypatch.setenv("MEDIA_PATH", str(media))
    _use_config(monkeypatch, media=media)
    r = run(f"with open({str(other / 'workflow.py')!r}, 'w') as fh:\n    fh.write('hacked')\n")
    assert r.status == "error", r
    assert (other / "workflow.py").read_text() == "VALUE = 1\n"
    # not even readable: the media root is hidden
    r = run(f"print(open({str(other / 'workflow.py')!r}).read())\n")
    assert r.status == "error", r
    assert "FileNotFoundError" in error_text(r)


def test_a_test_cannot_read_proc_1_environ(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-hostile-789")
    r = run("print(open('/proc/1/environ', 'rb').read())\n")
    assert "sk-hostile-789" not in r.output
    r = run("data = open('/proc/1/environ', 'rb').read()\nassert b'sk-hostile-789' in data\n")
    assert r.status != "passed", r


def test_a_test_cannot_connect_to_the_servers_loopback():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    try:
        r = run(f"import socket\nsocket.create_connection(('127.0.0.1', {server.getsockname()[1]}), timeout=2)\n")
        assert r.status == "error", r
        assert "ConnectionRefusedError" in error_text(r) or "OSError" in error_text(r)
    finally:
        server.close()


def test_the_pid_namespace_shows_only_the_run():
    r = run(
        "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\nprint(pids)\nassert len(pids) <= 3, pids\n"
    )
    assert r.status == "passed", r


# ------------------------------------------------------- without bubblewrap


def _use_config(monkeypatch, *, bwrap: str = "bwrap", allow_weak: bool = False, media: Path | None = None) -> None:
    """Point the sandbox's settings (Django's when configured, else the environment) elsewhere."""
    monkeypatch.setenv("SANDBOX_BWRAP", bwrap)
    monkeypatch.setenv("SANDBOX_ALLOW_WEAK", "1" if allow_weak else "0")
    from django.conf import settings

    if settings.configured:
        monkeypatch.setattr(settings, "SANDBOX_BWRAP", bwrap)
        monkeypatch.setattr(settings, "SANDBOX_ALLOW_WEAK", allow_weak)
        if media is not None:
            monkeypatch.setattr(settings, "MEDIA_PATH", media)


def test_without_bubblewrap_a_run_is_refused_with_the_reason(monkeypatch):
    _use_config(monkeypatch, bwrap="/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailable, match="bubblewrap .*/nonexistent/bwrap.* is not installed"):
        run("assert True\n")
    caps = sandbox_capabilities()
    assert caps["mode"] == "unavailable" and caps["available"] is False and caps["isolation"] == []
    assert "/nonexistent/bwrap" in caps["reason"]


def test_a_failing_bubblewrap_is_refused_too(monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    _use_config(monkeypatch, bwrap=str(fake))
    with pytest.raises(SandboxUnavailable, match="No permissions to create new namespace"):
        run("assert True\n")


def test_allow_weak_runs_with_weak_isolation_and_says_so(monkeypatch):
    _use_config(monkeypatch, bwrap="/nonexistent/bwrap", allow_weak=True)
    caps = sandbox_capabilities()
    assert caps["mode"] == "weak" and caps["isolation"] == ["scrubbed-env", "rlimits"], caps
    monkeypatch.setenv("OPENAI_API_KEY", "sk-weak-000")
    r = run("import os, workflow\nassert workflow.VALUE == 42\nassert 'OPENAI_API_KEY' not in os.environ\n")
    assert r.status == "passed", r
    t0 = time.monotonic()
    r = run("while True:\n    pass\n", timeout_s=1)
    assert r.status == "timeout", r
    assert time.monotonic() - t0 < 2.0
    assert _wait_no_procs(RUNNER_MARKER.replace("vg-", "sandbox_")) == []


@pytest.mark.parametrize("weak", [False, True], ids=["bubblewrap", "weak"])
def test_files_and_shared_dirs_reach_the_run_and_the_shared_dir_outlives_it(monkeypatch, tmp_path, weak):
    if weak:
        _use_config(monkeypatch, bwrap="/nonexistent/bwrap", allow_weak=True)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # the run has its own uid when the server is root
    (shared / "kept.txt").write_text("from the host\n")
    r = run(
        "from pathlib import Path\n"
        "assert Path('notes.txt').read_text() == 'beside the workflow'\n"
        "assert Path('box/kept.txt').read_text() == 'from the host\\n'\n"
        "Path('box/written.txt').write_text('from the run')\n",
        files={"notes.txt": "beside the workflow"},
        shared_dirs={"box": str(shared)},
    )
    assert r.status == "passed", r
    assert (shared / "kept.txt").read_text() == "from the host\n"
    assert (shared / "written.txt").read_text() == "from the run"
