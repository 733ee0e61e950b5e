"""Run a user's Python test against a workflow module in a sandbox.

Public API::

    sandbox_run(workflow_code=..., test_code=..., timeout_s=..., memory_mb=512,
                output_limit=64_000, startup_s=30.0, preload=None) -> SandboxResult
    network_isolation_available() -> bool
    sandbox_capabilities() -> dict          # what isolation is active (for /health, logs)

How a run works
---------------
* A fresh server-side temporary directory receives ``workflow.py`` and
  ``test_workflow.py`` and is deleted afterwards.  The child runs with that
  path as cwd, HOME and TMPDIR and on ``PYTHONPATH``/``sys.path`` (so
  ``import workflow`` works), with a scrubbed environment (PATH, HOME, TMPDIR,
  LANG, PYTHONPATH, PYTHONDONTWRITEBYTECODE, PYTHONHASHSEED=0,
  PYTHONUNBUFFERED, PYTHONIOENCODING, OPENAI_AGENTS_DISABLE_TRACING=1 and
  nothing else from the server).
* The server never uses ``preexec_fn``.  It starts
  ``[unshare <flags> --] python -I -S testcases/sandbox_launcher.py <json>``
  with ``start_new_session=True``; the launcher (stdlib only, never imports the
  project) prepares the mount namespace, forks, applies rlimits to the child,
  drops privileges and ``execve``s the same interpreter (``sys.executable``,
  so site-packages incl. ``agents`` are importable) with a tiny runner that
  executes the test code, then every top-level ``test*`` function (async ones
  via ``asyncio.run``) and ``Test*`` class methods, and reports the outcome on
  a dedicated status pipe (exit 0 passed, 1 AssertionError, 2 other exception,
  3 MemoryError).  The test runs as ``__main__`` (``unittest.main()`` works;
  ``unittest.TestCase`` classes are also run by the runner), and a test that
  exits by itself (``sys.exit``, ``os._exit``, ``unittest.main()``) is judged by
  its exit status like a script: 0 passed, anything else failed.
* Start-up is not test time.  Before running any code of the test or the
  workflow, the runner imports the ``preload`` modules (by default ``agents``
  when either file mentions it: the SDK alone costs seconds of CPU) and says
  ``{"kind": "ready"}`` on the status pipe.  Until then the parent allows
  ``startup_s`` of wall-clock time (then: timeout, "Sandbox start-up took more
  than N s"); from then on the test's ``timeout_s``, and ``execution_time_ms``
  counts from there too.
* Isolation, chosen once per process by probing (``_first_working``), best first:

  ``root-ns`` (server runs as root -- the case on the dev machine)
      ``unshare --net --mount --pid --ipc --uts --fork --kill-child --mount-proc``;
      every mount is remounted read-only+nosuid, fresh tmpfs on /tmp and
      /dev/shm (32 MiB), the project directory and the server's home are
      hidden behind empty tmpfs (the interpreter prefixes are bound back
      read-only), and the work directory is a 64 MiB tmpfs holding copies of
      the two files: nothing the test writes reaches the server's disk or
      persists.  The test runs under a random, otherwise unused uid/gid
      (2_000_000_000 + n) so RLIMIT_NPROC is enforced (it never is for root)
      and is per run; no capabilities, ``no_new_privs``.
  ``root-ns-nonet``  the same without the network namespace.
  ``userns`` (server not root, unprivileged user namespaces allowed)
      the same plus ``--user --map-root-user``; no uid change (one uid is
      mapped) but the capability bounding set is emptied before exec, and
      RLIMIT_NPROC is per user namespace (Linux >= 5.14).
  ``userns-net``  network namespace only (no filesystem isolation).
  ``plain-uid`` (root, no namespaces) per-run uid + rlimits; leftover
      processes are killed by uid.  Needs an interpreter readable by any uid.
  ``plain``  last resort: scrubbed env + rlimits only (RLIMIT_NPROC relative
      to the server user's task count when not root; none as root).

  ``network_isolation_available()`` / ``sandbox_capabilities()`` tell the
  caller what is active.
* Limits (set by the launcher on the runner): RLIMIT_CPU ceil(startup+timeout)+1 s,
  lowered by the runner once ready to (CPU used by the start-up) + ceil(timeout)+1 s,
  RLIMIT_AS ``memory_mb`` MiB, RLIMIT_FSIZE 10 MiB, RLIMIT_NOFILE 256,
  RLIMIT_NPROC 64, RLIMIT_CORE 0.  The parent enforces the wall-clock timeout
  and always finishes with ``killpg(SIGKILL)`` on the whole process group
  (before reaping the leader, so the pgid cannot have been reused); with the
  PID namespace the kernel also kills every process of the run (even ones that
  called setsid) when the launcher (PID 1 there) exits.
* stdout+stderr go through one pipe that is read incrementally; only the first
  ``output_limit`` characters are kept, the rest is drained and discarded.

No third-party tools are needed: ``unshare`` comes from util-linux (and
``python3`` ctypes/libc for mount/prctl).  bubblewrap is not used.
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

from vibegrapher.storable import without_nul  # plain Python, no Django

logger = logging.getLogger(__name__)

__all__ = [
    "SandboxResult",
    "network_isolation_available",
    "sandbox_capabilities",
    "sandbox_run",
]

LAUNCHER = Path(__file__).resolve().with_name("sandbox_launcher.py")
PROJECT_DIR = Path(__file__).resolve().parent.parent

FSIZE_LIMIT = 10 * 1024 * 1024
NOFILE_LIMIT = 256
NPROC_LIMIT = 64
TMPFS_KB = 32 * 1024  # /tmp and /dev/shm inside the sandbox (filesystem isolation only)
WORKDIR_KB = 64 * 1024  # the work directory inside the sandbox (filesystem isolation only)
STARTUP_S = 30.0  # default wall-clock allowance for interpreter start-up and preloading
PRELOAD = ("agents",)  # imported before the test's clock starts, when the code mentions them
TEST_FILENAME = "test_workflow.py"
WORKFLOW_FILENAME = "workflow.py"

# Runner exit codes (see RUNNER_SOURCE in sandbox_launcher.py)
_EXIT_PASSED, _EXIT_FAILED, _EXIT_ERROR, _EXIT_MEMORY = 0, 1, 2, 3
_SETUP_FAILED, _EXEC_FAILED = 125, 126

_UID_BASE = 2_000_000_000
_UID_SPAN = 100_000_000


@dataclass(frozen=True)
class SandboxResult:
    status: str  # "passed" | "failed" | "error" | "timeout"
    output: str  # combined stdout+stderr, capped
    error: str | None  # short reason for failed/error/timeout
    execution_time_ms: int


@dataclass(frozen=True)
class _Mode:
    name: str
    prefix: tuple[str, ...]  # command prefix (unshare ...), empty for none
    net: bool = False
    pid: bool = False
    fs: bool = False
    drop_uid: bool = False
    nproc: bool = False
    # RLIMIT_NPROC counts every task of the server's uid (no uid change, no user
    # namespace): the limit is set to "tasks of this uid now + NPROC_LIMIT".
    nproc_relative: bool = False


# ---------------------------------------------------------------------------
# mode detection


_mode_lock = threading.Lock()
_mode: _Mode | None = None


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        parts = os.uname().release.split(".")
        return (
            int(parts[0]),
            int("".join(c for c in parts[1] if c.isdigit()) or 0),
        ) >= (major, minor)
    except (ValueError, IndexError):
        return False


def _candidate_modes() -> list[_Mode]:
    unshare = shutil.which("unshare") or shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
    ns = (
        "--mount",
        "--pid",
        "--ipc",
        "--uts",
        "--fork",
        "--kill-child",
        "--mount-proc",
    )
    root = os.geteuid() == 0
    modes: list[_Mode] = []
    if unshare:
        if root:
            modes.append(
                _Mode(
                    "root-ns",
                    (unshare, "--net", *ns, "--"),
                    net=True,
                    pid=True,
                    fs=True,
                    drop_uid=True,
                    nproc=True,
                )
            )
            modes.append(
                _Mode(
                    "root-ns-nonet",
                    (unshare, *ns, "--"),
                    pid=True,
                    fs=True,
                    drop_uid=True,
                    nproc=True,
                )
            )
        # RLIMIT_NPROC is counted per user namespace since Linux 5.14 -- but it
        # never applies to (namespaced) real root, so not when the server is root.
        per_ns_nproc = _kernel_at_least(5, 14) and not root
        userns = (unshare, "--user", "--map-root-user")
        modes.append(
            _Mode(
                "userns",
                (*userns, "--net", *ns, "--"),
                net=True,
                pid=True,
                fs=True,
                nproc=per_ns_nproc,
            )
        )
        modes.append(_Mode("userns-net", (*userns, "--net", "--"), net=True, nproc=per_ns_nproc))
    if root:
        # Needs the interpreter to be readable by an arbitrary uid (not the case
        # for e.g. a pyenv install under /root, which only the mount namespace
        # modes can expose); the probe decides.
        modes.append(_Mode("plain-uid", (), drop_uid=True, nproc=True))
    # Last resort, never probed: env scrubbing + rlimits only.  As root RLIMIT_NPROC
    # does not apply; otherwise it is relative to the server user's task count.
    modes.append(_Mode("plain", (), nproc=not root, nproc_relative=not root))
    return modes


_PROBE_WORKFLOW = "VALUE = 41\n"
_PROBE_TEST = "import os, workflow\nassert workflow.VALUE + 1 == 42\nopen('probe.txt', 'w').write('ok')\n"


def _first_working(modes: list[_Mode]) -> _Mode:
    """First mode whose probe run passes; the last mode is the unprobed fallback."""
    for mode in modes[:-1]:
        try:
            result = _execute(
                mode,
                workflow_code=_PROBE_WORKFLOW,
                test_code=_PROBE_TEST,
                timeout_s=30.0,
                memory_mb=512,
                output_limit=4000,
                startup_s=STARTUP_S,
                preload=(),
            )
        except Exception as exc:  # noqa: BLE001
            logger.warning("sandbox mode %s unusable: %s", mode.name, exc)
            continue
        if result.status == "passed":
            return mode
        logger.warning(
            "sandbox mode %s unusable: %s %s",
            mode.name,
            result.error,
            result.output[-500:],
        )
    return modes[-1]


def _detect_mode() -> _Mode:
    mode = _first_working(_candidate_modes())
    if mode.net:
        logger.info("sandbox isolation mode: %s", mode.name)
    else:
        logger.warning("sandbox isolation mode: %s (no network isolation)", mode.name)
    return mode


def _get_mode() -> _Mode:
    global _mode
    if _mode is None:
        with _mode_lock:
            if _mode is None:
                _mode = _detect_mode()
    return _mode


def network_isolation_available() -> bool:
    """Whether sandboxed runs get their own (empty) network namespace. Cached."""
    return _get_mode().net


def sandbox_capabilities() -> dict:
    """Description of the isolation actually in use (cached)."""
    mode = _get_mode()
    return {
        "mode": mode.name,
        "network_isolation": mode.net,
        "pid_namespace": mode.pid,
        "filesystem_isolation": mode.fs,
        "unprivileged_uid": mode.drop_uid,
        "nproc_limit": mode.nproc,
        # processes that leave the process group (setsid) are still killed
        "kills_detached_processes": mode.pid or mode.drop_uid,
    }


# ---------------------------------------------------------------------------
# helpers


_uid_lock = threading.Lock()
_active_uids: set[int] = set()


def _alloc_uid() -> int:
    with _uid_lock:
        while True:
            uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
            if uid not in _active_uids:
                _active_uids.add(uid)
                return uid


def _free_uid(uid: int) -> None:
    with _uid_lock:
        _active_uids.discard(uid)


def _child_env(workdir: str) -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)
    return {
        "PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "PYTHONPATH": workdir,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        # No API key is available anyway; avoid exporter noise at exit.
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
    }


def _real(path: str) -> str:
    return os.path.realpath(path)


def _mask_and_keep() -> tuple[list[str], list[str]]:
    masks: list[str] = []
    for p in (str(PROJECT_DIR), os.path.expanduser("~"), "/root"):
        rp = _real(p)
        if rp != "/" and os.path.isdir(rp) and rp not in masks:
            masks.append(rp)
    keeps: list[str] = []
    exe = _real(sys.executable)
    for p in (
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(exe),
        os.path.dirname(os.path.dirname(exe)),
    ):
        rp = _real(p)
        if rp != "/" and rp not in keeps:
            keeps.append(rp)
    return masks, keeps


def _tasks_of_uid(uid: int) -> int:
    """Number of tasks (threads included) whose real uid is ``uid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as fh:
                real_uid = threads = None
                for line in fh:
                    if line.startswith("Uid:"):
                        real_uid = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
        if real_uid == uid:
            total += threads or 1
    return total


def _nproc_limit(mode: _Mode) -> int | None:
    if not mode.nproc:
        return None
    if mode.nproc_relative:
        return _tasks_of_uid(os.getuid()) + NPROC_LIMIT
    return NPROC_LIMIT


def _kill_uid_processes(uid: int) -> None:
    """SIGKILL every process running as the (per-run, otherwise unused) ``uid``."""
    for _ in range(50):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}").st_uid != uid:
                    continue
                os.kill(int(entry), signal.SIGKILL)
                found = True
            except (OSError, ValueError):
                continue
        if not found:
            return
        time.sleep(0.01)


def _rmtree(path: str) -> None:
    def onerror(func, p, exc_info):  # make read-only dirs created by the test removable
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


def _parse_reports(data: bytes) -> dict[str, dict]:
    reports: dict[str, dict] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("kind"), str):
            if obj["kind"] == "ready":
                # the runner's own comes first; later ones could only come from the test
                reports.setdefault("ready", obj)
            else:
                reports[obj["kind"]] = obj
    return reports


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


# ---------------------------------------------------------------------------
# the run


def _default_preload(workflow_code: str, test_code: str) -> tuple[str, ...]:
    # Only modules the code can import; a needless preload would just cost start-up time.
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
) -> SandboxResult:
    """Run ``test_code`` (which may ``import workflow``) in a sandbox. Thread-safe.

    ``timeout_s`` starts once the sandbox is up and ``preload`` (default: ``agents`` when the code
    mentions it) is imported; that start-up gets its own ``startup_s`` allowance.
    """
    try:
        return _execute(
            _get_mode(),
            workflow_code=workflow_code,
            test_code=test_code,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            output_limit=output_limit,
            startup_s=startup_s,
            preload=_default_preload(workflow_code, test_code) if preload is None else tuple(preload),
        )
    except OSError as exc:
        logger.exception("sandbox: could not run the test")
        return SandboxResult(
            status="error",
            output="",
            error=f"Sandbox failed to start: {exc}",
            execution_time_ms=0,
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
) -> SandboxResult:
    timeout_s = float(timeout_s)
    startup_s = float(startup_s)
    output_limit = max(0, int(output_limit))
    uid = _alloc_uid() if mode.drop_uid else None
    workdir = _real(tempfile.mkdtemp(prefix="vg-sandbox-"))
    fds: list[int] = []
    proc: subprocess.Popen | None = None
    try:
        for name, code in (
            (WORKFLOW_FILENAME, workflow_code),
            (TEST_FILENAME, test_code),
        ):
            with open(os.path.join(workdir, name), "w", encoding="utf-8") as fh:
                fh.write(code)
            os.chmod(os.path.join(workdir, name), 0o644)
        if uid is not None:
            os.chown(workdir, uid, uid)
        os.chmod(workdir, 0o700)

        out_r, out_w = os.pipe()
        status_r, status_w = os.pipe()
        fds += [out_r, out_w, status_r, status_w]
        masks, keeps = _mask_and_keep()
        test_cpu = math.ceil(timeout_s) + 1
        cpu = math.ceil(startup_s + timeout_s) + 1  # the runner lowers it once started up
        cfg = {
            "workdir": workdir,
            "test_file": os.path.join(workdir, TEST_FILENAME),
            "python": sys.executable,
            "status_fd": status_w,
            "uid": uid,
            "gid": uid,
            "fs_isolation": mode.fs,
            "mask": masks,
            "keep": keeps,
            "files": [WORKFLOW_FILENAME, TEST_FILENAME],
            "tmpfs": ["/tmp", "/dev/shm"],
            "tmpfs_kb": TMPFS_KB,
            "work_kb": WORKDIR_KB,
            "preload": list(preload),
            "test_cpu": test_cpu,
            "limits": {
                "cpu": [cpu, cpu + 1],
                "as": int(memory_mb) * 1024 * 1024,
                "fsize": FSIZE_LIMIT,
                "nofile": NOFILE_LIMIT,
                "nproc": _nproc_limit(mode),
            },
        }
        cmd = [*mode.prefix, sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(cfg)]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=out_w,
            pass_fds=(status_w,),
            cwd=workdir,
            env=_child_env(workdir),
            start_new_session=True,
            close_fds=True,
        )
        os.close(out_w)
        os.close(status_w)
        fds = [out_r, status_r]

        run = _collect(out_r, status_r, startup_s, timeout_s, output_limit)
        out, truncated, timed_out = run.out, run.truncated, run.timed_out
        reports = _parse_reports(run.status_data)
        if not timed_out and "launcher" not in reports and "setup" not in reports:
            # Launcher gone without a report: wait (without reaping) for unshare.
            timed_out = not _wait_exit_noreap(proc.pid, run.deadline)
        elapsed_ms = 0 if run.ready_at is None else int((time.monotonic() - run.ready_at) * 1000)
    finally:
        if proc is not None:
            # The group leader is not reaped yet, so the pgid cannot have been reused.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - should not happen
                logger.error("sandbox: process %s did not die after SIGKILL", proc.pid)
            if uid is not None and not mode.pid:
                # No PID namespace: also catch processes that left the group (setsid).
                _kill_uid_processes(uid)
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        _rmtree(workdir)
        if uid is not None:
            _free_uid(uid)

    text = out.decode("utf-8", "replace")
    if truncated or len(text) > output_limit:
        marker = f"\n... [output truncated at {output_limit} characters]"
        text = text[: max(0, output_limit - len(marker))] + marker
        text = text[:output_limit] if output_limit < len(marker) else text

    if timed_out and run.ready_at is None:
        status, error = "timeout", f"Sandbox start-up took more than {startup_s:g} s"
    else:
        ready = reports.get("ready") or {}
        status, error = _classify(
            timed_out, timeout_s, memory_mb, reports, proc.returncode, ready.get("cpu_limit", cpu), text
        )
    return SandboxResult(
        status=status,
        output=without_nul(text),  # PostgreSQL text cannot hold NUL characters
        error=without_nul(error),
        execution_time_ms=elapsed_ms,
    )


@dataclass(frozen=True)
class _Collected:
    out: bytes
    truncated: bool
    status_data: bytes
    timed_out: bool
    ready_at: float | None  # monotonic time the runner said it was ready; None if it never did
    deadline: float


def _collect(out_r: int, status_r: int, startup_s: float, timeout_s: float, output_limit: int) -> _Collected:
    """Read output (bounded) and status lines until EOF, the launcher report, or the deadline.

    The deadline is ``startup_s`` from now until the runner reports ready, then ``timeout_s`` from then.
    """
    keep_bytes = output_limit * 4 + 4  # utf-8 worst case
    out = bytearray()
    truncated = False
    status_data = bytearray()
    timed_out = False
    deadline = time.monotonic() + startup_s
    ready_at: float | None = None
    launcher_done = False
    drain_until = 0.0
    with selectors.DefaultSelector() as sel:
        sel.register(out_r, selectors.EVENT_READ)
        sel.register(status_r, selectors.EVENT_READ)
        while sel.get_map():
            if launcher_done:
                wait = max(0.0, min(0.2, drain_until - time.monotonic()))
                if wait == 0.0:
                    break
            else:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    timed_out = True
                    break
            events = sel.select(wait)
            if not events and launcher_done:
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
                    if not launcher_done and b'"kind": "launcher"' in status_data:
                        # The runner has exited, so its output is already in the pipe;
                        # drain it briefly (stray grandchildren may keep the pipe open
                        # when there is no PID namespace).
                        launcher_done = True
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
    launcher = reports.get("launcher")
    if launcher is None:
        setup = reports.get("setup")
        if setup is not None:
            return "error", str(setup.get("error"))[:500]
        last = text.strip().splitlines()[-1] if text.strip() else ""
        return (
            "error",
            f"Sandbox process ended unexpectedly (exit status {returncode}) {last}".strip(),
        )
    code = launcher.get("exit")
    sig = launcher.get("signal")
    if runner is not None and code in (
        _EXIT_PASSED,
        _EXIT_FAILED,
        _EXIT_ERROR,
        _EXIT_MEMORY,
    ):
        status = runner.get("status")
        error = runner.get("error")
        if code == _EXIT_MEMORY and status == "error":
            return "timeout", f"Memory limit exceeded ({memory_mb} MiB)"
        if status == "passed" and code == _EXIT_PASSED:
            return "passed", None
        if status == "failed" and code == _EXIT_FAILED:
            return "failed", error or "AssertionError"
        return "error", error or f"Test process exited with code {code}"
    if sig:
        cpu = launcher.get("cpu") or 0.0
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= cpu_limit - 0.5):
            return "timeout", f"CPU time limit exceeded ({cpu_limit} s)"
        if sig == signal.SIGXFSZ:
            return (
                "timeout",
                f"File size limit exceeded ({FSIZE_LIMIT // (1024 * 1024)} MiB per file)",
            )
        if sig == signal.SIGKILL:
            return (
                "timeout",
                f"Killed (SIGKILL); possibly the memory limit ({memory_mb} MiB) was exceeded",
            )
        return "error", f"Test process crashed ({_signal_name(sig)})"
    if code == _EXEC_FAILED:
        return "error", "Sandbox failed to start the test runner"
    # The process ended itself (os._exit): its exit status is the verdict, as for a script.
    if code == _EXIT_PASSED:
        return "passed", None
    return "failed", f"The test exited with status {code}"
