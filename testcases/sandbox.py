"""Run a user's Python test against a workflow module in a bubblewrap sandbox (SPEC section 6).

Public API::

    sandbox_run(workflow_code=..., test_code=..., timeout_s=..., memory_mb=512,
                output_limit=64_000, startup_s=30.0, preload=None, files=None, shared_dirs=None) -> SandboxResult
    sandbox_capabilities() -> dict     # {"mode", "isolation": [...], "available", "reason"} for /health
    network_isolation_available() -> bool

A run starts ``bwrap`` (``SANDBOX_BWRAP``) with: the whole system bound read-only, the project,
the media root and the server's home hidden behind empty tmpfs (the interpreter prefixes bound back
read-only), a fresh tmpfs on /tmp holding only ``workflow.py``, ``test_workflow.py`` and the caller's
``files`` (the work directory, cwd and HOME), each of ``shared_dirs`` bound read-write into it (the
playground's relay socket; a symlink in weak mode), new network, PID, IPC, UTS and mount namespaces, ``--die-with-parent``,
``--clearenv`` plus a short fixed environment (no secrets). Inside, ``testcases/sandbox_runner.py``
sets the rlimits on itself (address space ``memory_mb``, CPU, 64 processes, 10 MiB per file, 256
files), drops to a per-run uid when the server is root (RLIMIT_NPROC never applies to root), imports
``agents`` when the code mentions it and reports ready: the test's ``timeout_s`` starts there (start-up
gets ``startup_s``). The parent reads output up to ``output_limit`` characters and always ends with
``killpg(SIGKILL)``; bwrap's PID namespace takes every other process of the run with it.

If bubblewrap is missing or cannot create its namespaces (a Docker container without user
namespaces), ``sandbox_run`` raises ``SandboxUnavailable`` with the reason, unless the operator set
``SANDBOX_ALLOW_WEAK=1``: then the runner runs as a plain child process (scrubbed environment,
rlimits, its own process group, a host temporary directory), and the mode says ``weak``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings  # read only when configured: bench scripts run the sandbox without Django

from vibegrapher.storable import without_nul  # plain Python, no Django

logger = logging.getLogger(__name__)

__all__ = [
    "SandboxResult",
    "SandboxUnavailable",
    "network_isolation_available",
    "sandbox_capabilities",
    "sandbox_run",
]

RUNNER = Path(__file__).resolve().with_name("sandbox_runner.py")
PROJECT_DIR = Path(__file__).resolve().parent.parent

FSIZE_LIMIT = 10 * 1024 * 1024
NOFILE_LIMIT = 256
NPROC_LIMIT = 64
TMPFS_BYTES = 64 * 1024 * 1024  # /tmp inside the sandbox, work directory included
STARTUP_S = 30.0
PRELOAD = ("agents",)  # imported before the test's clock starts, when the code mentions them
TEST_FILENAME = "test_workflow.py"
WORKFLOW_FILENAME = "workflow.py"
SANDBOX_WORKDIR = "/tmp/work"
BWRAP_ISOLATION = ["read-only-system", "private-tmp", "no-network", "pid-namespace", "scrubbed-env", "rlimits"]
WEAK_ISOLATION = ["scrubbed-env", "rlimits"]

# Runner exit codes (testcases/sandbox_runner.py)
_EXIT_PASSED, _EXIT_FAILED, _EXIT_ERROR, _EXIT_MEMORY = 0, 1, 2, 3

_UID_BASE = 2_000_000_000
_UID_SPAN = 100_000_000


class SandboxUnavailable(RuntimeError):
    """The configured isolation cannot be had; the message says why and what the operator can do."""


@dataclass(frozen=True)
class SandboxResult:
    status: str  # "passed" | "failed" | "error" | "timeout"
    output: str  # combined stdout+stderr, capped
    error: str | None  # short reason for failed/error/timeout
    execution_time_ms: int


@dataclass(frozen=True)
class _Mode:
    name: str  # "bubblewrap" | "weak" | "unavailable"
    bwrap: str | None
    isolation: tuple[str, ...]
    reason: str | None = None  # why bubblewrap is not used


def _config() -> tuple[str, bool]:
    """SANDBOX_BWRAP and SANDBOX_ALLOW_WEAK from Django's settings when configured, else the environment."""
    if settings.configured:
        return settings.SANDBOX_BWRAP, settings.SANDBOX_ALLOW_WEAK
    return os.environ.get("SANDBOX_BWRAP", "bwrap"), os.environ.get("SANDBOX_ALLOW_WEAK", "") == "1"


_modes_lock = threading.Lock()
_modes: dict[tuple[str, bool], _Mode] = {}

_PROBE_WORKFLOW = "VALUE = 41\n"
_PROBE_TEST = "import workflow\nassert workflow.VALUE + 1 == 42\nopen('probe.txt', 'w').write('ok')\n"


def _detect(bwrap_setting: str, allow_weak: bool) -> _Mode:
    bwrap = shutil.which(bwrap_setting)
    if bwrap is None:
        reason = f"bubblewrap ({bwrap_setting!r}) is not installed or not on PATH"
    else:
        mode = _Mode("bubblewrap", bwrap, tuple(BWRAP_ISOLATION))
        try:
            probe = _execute(
                mode,
                workflow_code=_PROBE_WORKFLOW,
                test_code=_PROBE_TEST,
                timeout_s=30.0,
                memory_mb=512,
                output_limit=4000,
                startup_s=STARTUP_S,
                preload=(),
            )
        except OSError as exc:
            probe = SandboxResult("error", "", str(exc), 0)
        if probe.status == "passed":
            logger.info("sandbox isolation: bubblewrap (%s)", ", ".join(BWRAP_ISOLATION))
            return mode
        reason = f"bubblewrap cannot create its sandbox here: {probe.error} {probe.output.strip()[-300:]}".strip()
    if allow_weak:
        logger.warning(
            "sandbox: %s; SANDBOX_ALLOW_WEAK=1, so tests run WITHOUT filesystem, network or PID isolation", reason
        )
        return _Mode("weak", None, tuple(WEAK_ISOLATION), reason)
    logger.error("sandbox: %s; test runs answer 503 (set SANDBOX_ALLOW_WEAK=1 to run them unsafely)", reason)
    return _Mode("unavailable", None, (), reason)


def _get_mode() -> _Mode:
    key = _config()
    with _modes_lock:
        if key not in _modes:
            _modes[key] = _detect(*key)
        return _modes[key]


def network_isolation_available() -> bool:
    """Whether sandboxed runs get their own (empty) network namespace. Cached."""
    return "no-network" in _get_mode().isolation


def sandbox_capabilities() -> dict:
    """The isolation in force (cached per configuration), for /health and logs."""
    mode = _get_mode()
    return {
        "mode": mode.name,
        "isolation": list(mode.isolation),
        "available": mode.name != "unavailable",
        "reason": mode.reason,
    }


def _child_env(workdir: str) -> dict[str, str]:
    return {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "PYTHONPATH": workdir,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "OPENAI_AGENTS_DISABLE_TRACING": "1",  # no API key anyway; avoid exporter noise at exit
    }


def _hidden_and_kept() -> tuple[list[str], list[tuple[str, str]]]:
    """Directories hidden behind empty tmpfs (project, media root, homes) and the interpreter
    prefixes bound back read-only inside them."""
    hide = [str(PROJECT_DIR), os.path.expanduser("~"), "/root", "/home"]
    media = os.environ.get("MEDIA_PATH")
    if settings.configured:
        media = str(settings.MEDIA_PATH)
    if media:
        hide.append(media)
    hidden: list[str] = []
    for path in hide:
        real = os.path.realpath(path)
        if real != "/" and os.path.isdir(real) and real not in hidden:
            hidden.append(real)
    kept: list[tuple[str, str]] = []  # (source, destination) for every prefix of the interpreter
    exe_prefix = os.path.dirname(os.path.dirname(sys.executable))
    for path in (
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        exe_prefix,
        os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
    ):
        for dest in (os.path.abspath(path), os.path.realpath(path)):
            pair = (os.path.realpath(path), dest)
            if dest != "/" and pair not in kept and any(dest == h or dest.startswith(h + "/") for h in hidden):
                kept.append(pair)
    return hidden, kept


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # not close-on-exec: bwrap reads it
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _bwrap_argv(bwrap: str, file_fds: dict[str, int], runner_fd: int, shared_dirs: dict[str, str]) -> list[str]:
    hidden, kept = _hidden_and_kept()
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in hidden:
        argv += ["--tmpfs", path]
    for source, dest in kept:
        parents: list[str] = []
        parent = os.path.dirname(dest)
        while parent not in hidden and parent != "/":
            parents.insert(0, parent)
            parent = os.path.dirname(parent)
        for parent in parents:  # bwrap would create them 0700: the per-run uid could not pass
            argv += ["--perms", "0755", "--dir", parent]
        argv += ["--ro-bind", source, dest]
    argv += ["--size", str(TMPFS_BYTES), "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/dev/shm"]
    argv += ["--dir", SANDBOX_WORKDIR, "--chmod", "1777", SANDBOX_WORKDIR, "--chmod", "1777", "/tmp"]
    for name, fd in file_fds.items():
        argv += ["--perms", "0644", "--file", str(fd), f"{SANDBOX_WORKDIR}/{name}"]
    for name, host_dir in shared_dirs.items():
        argv += ["--bind", host_dir, f"{SANDBOX_WORKDIR}/{name}"]
    argv += ["--perms", "0444", "--ro-bind-data", str(runner_fd), "/tmp/.vg-runner.py"]
    argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--clearenv"]
    argv += ["--chdir", SANDBOX_WORKDIR]
    for key, value in _child_env(SANDBOX_WORKDIR).items():
        argv += ["--setenv", key, value]
    if os.geteuid() == 0:
        # The runner drops to a per-run uid itself (RLIMIT_NPROC never applies to root).
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user"]
    return [*argv, "--"]


def _default_preload(workflow_code: str, test_code: str) -> tuple[str, ...]:
    return tuple(name for name in PRELOAD if name in workflow_code or name in test_code)


def sandbox_run(
    *,
    workflow_code: str,
    test_code: str,
    timeout_s: float,
    memory_mb: int = 512,
    output_limit: int = 64_000,
    startup_s: float = STARTUP_S,
    preload: tuple[str, ...] | None = None,
    files: dict[str, str] | None = None,
    shared_dirs: dict[str, str] | None = None,
) -> SandboxResult:
    """Run ``test_code`` (which may ``import workflow``) in the sandbox. Thread-safe.

    ``files`` (name -> text) are written beside the workflow; ``shared_dirs`` (name -> host directory)
    appear in the work directory under that name, read-write: the only host paths the run can reach
    (the run has its own uid when the server is root, so the caller gives the directory the access it needs).

    Raises ``SandboxUnavailable`` when bubblewrap cannot be used and weak isolation is not allowed.
    """
    mode = _get_mode()
    if mode.name == "unavailable":
        raise SandboxUnavailable(
            f"Tests cannot run: the sandbox is unavailable ({mode.reason}). An operator can allow user "
            "namespaces (see README, Sandbox) or set SANDBOX_ALLOW_WEAK=1 to run tests without isolation."
        )
    if mode.name == "weak":
        logger.warning("sandbox: running a test with weak isolation (SANDBOX_ALLOW_WEAK=1): %s", mode.reason)
    return _execute(
        mode,
        workflow_code=workflow_code,
        test_code=test_code,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        output_limit=output_limit,
        startup_s=startup_s,
        preload=_default_preload(workflow_code, test_code) if preload is None else tuple(preload),
        files=files or {},
        shared_dirs=shared_dirs or {},
    )


def _execute(
    mode: _Mode,
    *,
    workflow_code: str,
    test_code: str,
    timeout_s: float,
    memory_mb: int,
    output_limit: int,
    startup_s: float = STARTUP_S,
    preload: tuple[str, ...] = (),
    files: dict[str, str] | None = None,
    shared_dirs: dict[str, str] | None = None,
) -> SandboxResult:
    timeout_s, startup_s, output_limit = float(timeout_s), float(startup_s), max(0, int(output_limit))
    shared_dirs = shared_dirs or {}
    contents = {
        **{name: text.encode("utf-8") for name, text in (files or {}).items()},
        WORKFLOW_FILENAME: workflow_code.encode("utf-8"),
        TEST_FILENAME: test_code.encode("utf-8"),
    }
    host_dir: str | None = None
    fds: list[int] = []
    proc: subprocess.Popen | None = None
    out = b""
    try:
        out_r, out_w = os.pipe()
        status_r, status_w = os.pipe()
        fds += [out_r, out_w, status_r, status_w]
        test_cpu = math.ceil(timeout_s) + 1
        cpu = math.ceil(startup_s + timeout_s) + 1  # the runner lowers it once started up
        cfg: dict = {
            "status_fd": status_w,
            "preload": list(preload),
            "test_cpu": test_cpu,
            "uid": None,
            "limits": {
                "cpu": cpu,
                "as": int(memory_mb) * 1024 * 1024,
                "fsize": FSIZE_LIMIT,
                "nofile": NOFILE_LIMIT,
                "nproc": NPROC_LIMIT,
            },
        }
        if mode.bwrap is not None:
            file_fds = {name: _memfd(name, data) for name, data in contents.items()}
            runner_fd = _memfd("runner", RUNNER.read_bytes())
            fds += [*file_fds.values(), runner_fd]
            workdir = SANDBOX_WORKDIR
            if os.geteuid() == 0:
                cfg["uid"] = _UID_BASE + secrets.randbelow(_UID_SPAN)
            prefix = _bwrap_argv(mode.bwrap, file_fds, runner_fd, shared_dirs)
            runner_path = "/tmp/.vg-runner.py"
            keep = (status_w, *file_fds.values(), runner_fd)
            cwd = "/"
        else:
            host_dir = workdir = os.path.realpath(tempfile.mkdtemp(prefix="vg-sandbox-"))
            for name, data in contents.items():
                Path(workdir, name).write_bytes(data)
            for name, shared in shared_dirs.items():
                Path(workdir, name).symlink_to(shared, target_is_directory=True)
            prefix, runner_path, keep, cwd = [], str(RUNNER), (status_w,), workdir
        cfg["workdir"] = workdir
        cfg["test_file"] = f"{workdir}/{TEST_FILENAME}"
        cmd = [*prefix, sys.executable, "-I", runner_path, json.dumps(cfg)]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=out_w,
            pass_fds=keep,
            cwd=cwd,
            env=_child_env(workdir),
            start_new_session=True,
            close_fds=True,
        )
        for fd in fds[:]:
            if fd not in (out_r, status_r):
                os.close(fd)
                fds.remove(fd)
        run = _collect(out_r, status_r, startup_s, timeout_s, output_limit)
        out, truncated, timed_out = run.out, run.truncated, run.timed_out
        if not timed_out:
            timed_out = not _wait_exit_noreap(proc.pid, run.deadline)
        elapsed_ms = 0 if run.ready_at is None else int((time.monotonic() - run.ready_at) * 1000)
    finally:
        if proc is not None:
            try:  # the leader is not reaped yet, so the pgid cannot have been reused
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        for fd in fds:
            os.close(fd)
        if host_dir is not None:
            shutil.rmtree(host_dir, ignore_errors=True)

    text = out.decode("utf-8", "replace")
    if truncated or len(text) > output_limit:
        marker = f"\n... [output truncated at {output_limit} characters]"
        text = text[: max(0, output_limit - len(marker))] + marker
        text = text[:output_limit] if output_limit < len(marker) else text
    reports = _parse_reports(run.status_data)
    if timed_out and run.ready_at is None:
        status, error = "timeout", f"Sandbox start-up took more than {startup_s:g} s"
    else:
        cpu_limit = (reports.get("ready") or {}).get("cpu_limit", cpu)
        status, error = _classify(timed_out, timeout_s, memory_mb, reports, proc.returncode, cpu_limit, text)
    return SandboxResult(
        status=status,
        output=without_nul(text),  # PostgreSQL text cannot hold NUL characters
        error=without_nul(error),
        execution_time_ms=elapsed_ms,
    )


def _parse_reports(data: bytes) -> dict[str, dict]:
    reports: dict[str, dict] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("kind"), str):
            # the runner's own lines come first; later ones could only come from the test
            reports.setdefault(obj["kind"], obj)
    return reports


@dataclass(frozen=True)
class _Collected:
    out: bytes
    truncated: bool
    status_data: bytes
    timed_out: bool
    ready_at: float | None  # monotonic time the runner said it was ready; None if it never did
    deadline: float


def _collect(out_r: int, status_r: int, startup_s: float, timeout_s: float, output_limit: int) -> _Collected:
    """Read output (bounded) and status lines until EOF, the runner's verdict, or the deadline.

    The deadline is ``startup_s`` from now until the runner reports ready, then ``timeout_s`` from then.
    """
    keep_bytes = output_limit * 4 + 4  # utf-8 worst case
    out = bytearray()
    truncated = False
    status_data = bytearray()
    timed_out = False
    deadline = time.monotonic() + startup_s
    ready_at: float | None = None
    runner_done = False
    drain_until = 0.0
    with selectors.DefaultSelector() as sel:
        sel.register(out_r, selectors.EVENT_READ)
        sel.register(status_r, selectors.EVENT_READ)
        while sel.get_map():
            if runner_done:
                wait = max(0.0, min(0.2, drain_until - time.monotonic()))
                if wait == 0.0:
                    break
            else:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    timed_out = True
                    break
            events = sel.select(wait)
            if not events and runner_done:
                break
            for key, _ in events:
                try:
                    data = os.read(key.fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fd)
                    continue
                if key.fd == out_r:
                    room = keep_bytes - len(out)
                    if room > 0:
                        out += data[:room]
                    if len(data) > room:
                        truncated = True
                elif len(status_data) < 65536:
                    status_data += data
                    if ready_at is None and b'"kind": "ready"' in status_data:
                        ready_at = time.monotonic()
                        deadline = ready_at + timeout_s
                    if not runner_done and b'"kind": "runner"' in status_data:
                        # The runner has exited, so its output is already in the pipe;
                        # drain it briefly (stray grandchildren may keep the pipe open
                        # when there is no PID namespace).
                        runner_done = True
                        drain_until = time.monotonic() + 0.5
    return _Collected(bytes(out), truncated, bytes(status_data), timed_out, ready_at, deadline)


def _wait_exit_noreap(pid: int, deadline: float) -> bool:
    """Poll until ``pid`` exits, without reaping it. False on deadline."""
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        if info is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _classify(timed_out, timeout_s, memory_mb, reports, returncode, cpu_limit, text):
    if timed_out:
        return "timeout", f"Timed out after {timeout_s:.1f} s"
    runner = reports.get("runner")
    # bwrap exits with the command's status, or 128 + signal when a signal killed it
    sig = -returncode if returncode < 0 else (returncode - 128 if returncode > 128 else None)
    if runner is not None and returncode in (_EXIT_PASSED, _EXIT_FAILED, _EXIT_ERROR, _EXIT_MEMORY):
        status, error = runner.get("status"), runner.get("error")
        if returncode == _EXIT_MEMORY and status == "error":
            return "timeout", f"Memory limit exceeded ({memory_mb} MiB)"
        if status == "passed" and returncode == _EXIT_PASSED:
            return "passed", None
        if status == "failed" and returncode == _EXIT_FAILED:
            return "failed", error or "AssertionError"
        return "error", error or f"Test process exited with code {returncode}"
    if sig == signal.SIGXCPU:
        return "timeout", f"CPU time limit exceeded ({cpu_limit} s)"
    if sig == signal.SIGXFSZ:
        return "timeout", f"File size limit exceeded ({FSIZE_LIMIT // (1024 * 1024)} MiB per file)"
    if sig == signal.SIGKILL:
        return "timeout", f"Killed (SIGKILL); possibly the memory limit ({memory_mb} MiB) was exceeded"
    if sig is not None:
        return "error", f"Test process crashed ({_signal_name(sig)})"
    if "ready" not in reports:
        last = text.strip().splitlines()[-1] if text.strip() else ""
        return "error", f"Sandbox failed to start (exit status {returncode}) {last}".strip()
    # The process ended itself (os._exit): its exit status is the verdict, as for a script.
    if returncode == _EXIT_PASSED:
        return "passed", None
    return "failed", f"The test exited with status {returncode}"


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
