"""Sandbox launcher -- executed as a separate process, never imported by the server.

Started by ``testcases.sandbox`` as::

    [unshare <namespace flags> --] <python> -I -S sandbox_launcher.py <config-json>

It must only use the standard library: it runs with ``-I -S`` (no site-packages,
no environment, no script directory on ``sys.path``) and must never import
Django or the project.

What it does, in order:

1. (``fs_isolation``) Inside the fresh mount namespace created by ``unshare``:
   every existing mount is bind-remounted read-only (+nosuid), fresh small
   tmpfs instances are put on ``/tmp`` and ``/dev/shm``, the ``mask`` paths
   (project directory, the server's home...) are hidden behind empty read-only
   tmpfs, the ``keep`` paths (the interpreter prefixes) are bind-mounted back
   read-only, and finally a size-limited tmpfs owned by the test's uid is
   mounted on the work directory path, holding copies of the input files.
   Result: nothing the test writes reaches the server's disk, and the total
   it can write is bounded by the tmpfs sizes.
2. Forks.  The parent stays behind as a minimal init (when ``unshare --pid``
   is used it is PID 1 of the namespace, so when it exits the kernel kills
   every process left in the namespace), reaps zombies, and when the runner
   exits writes a one-line JSON report (exit code / signal / CPU time) to the
   status fd and exits.
3. The child applies resource limits to itself (RLIMIT_CPU, RLIMIT_AS,
   RLIMIT_FSIZE, RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_CORE), drops every
   capability (bounding set + ambient), switches to an unprivileged uid/gid
   when asked (server running as root), sets ``PR_SET_NO_NEW_PRIVS`` and
   ``execve``s the interpreter with the small test runner (``RUNNER_SOURCE``).

Exit codes of the launcher: the runner's exit code, ``128 + signal`` when the
runner was killed by a signal, 125 when the sandbox setup failed, 126 when the
exec of the runner failed.
"""

import ctypes
import json
import os
import resource
import sys

SETUP_FAILED = 125
EXEC_FAILED = 126

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

# statvfs f_flag bits
ST_NOSUID = 2
ST_NODEV = 4
ST_NOEXEC = 8

# prctl(2)
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


def _enc(value):
    return None if value is None else os.fsencode(value)


def _mount(source, target, fstype, flags, data=None):
    if _libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(
            err,
            f"mount({source!r}, {target!r}, {fstype!r}, {flags:#x}): {os.strerror(err)}",
        )


def _prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    if _libc.prctl(option, arg2, arg3, arg4, arg5) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def _unescape_mountinfo(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo octal
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1 : i + 4]) == 3 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mount_points():
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) > 4:
                point = _unescape_mountinfo(parts[4])
                if point not in points:
                    points.append(point)
    return points


def _preserved_flags(path):
    flags = 0
    try:
        st = os.statvfs(path)
    except OSError:
        return flags
    if st.f_flag & ST_NODEV:
        flags |= MS_NODEV
    if st.f_flag & ST_NOEXEC:
        flags |= MS_NOEXEC
    return flags


def _remount(path, readonly):
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | _preserved_flags(path)
    if readonly:
        flags |= MS_RDONLY
    _mount(None, path, None, flags)


def _inside(path, parent):
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _bind_from_fd(fd, target, readonly):
    os.makedirs(target, exist_ok=True)
    _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    _remount(target, readonly)


def setup_filesystem(cfg):
    workdir = cfg["workdir"]
    masks = [m for m in cfg.get("mask", []) if os.path.isdir(m) and m != "/"]
    # drop masks nested in other masks (they are hidden anyway)
    masks = [m for m in masks if not any(o != m and _inside(m, o) for o in masks)]
    keeps = [k for k in cfg.get("keep", []) if os.path.isdir(k) and any(_inside(k, m) for m in masks)]
    tmpfs_dirs = [t for t in cfg.get("tmpfs", []) if os.path.isdir(t)]

    # The input files are copied into a fresh tmpfs: the host work directory
    # (on the server's disk) is never written by the test.
    files = {}
    for name in cfg.get("files", []):
        with open(os.path.join(workdir, name), "rb") as fh:
            files[name] = fh.read()
    # Hold references to the directories that will be bound back after they
    # get hidden by tmpfs mounts.
    keep_fds = [(k, os.open(k, os.O_RDONLY | os.O_DIRECTORY)) for k in keeps]

    # unshare already defaults to private propagation; make sure.
    _mount(None, "/", None, MS_REC | MS_PRIVATE)

    # 1. everything read-only
    failures = []
    for point in _mount_points():
        try:
            _remount(point, readonly=True)
        except OSError as exc:
            if point == "/":
                raise
            failures.append(f"{point} ({exc.strerror})")

    # 2. private scratch space
    for t in tmpfs_dirs:
        _mount(
            "tmpfs",
            t,
            "tmpfs",
            MS_NOSUID | MS_NODEV,
            f"mode=1777,size={int(cfg.get('tmpfs_kb', 65536))}k,nr_inodes=16384",
        )

    # 3. hide the project and the server's home
    for m in masks:
        _mount(
            "tmpfs",
            m,
            "tmpfs",
            MS_NOSUID | MS_NODEV,
            "mode=755,size=1024k,nr_inodes=4096",
        )
    # 4. ...but keep the interpreter / virtualenv visible (read-only)
    for k, fd in keep_fds:
        _bind_from_fd(fd, k, readonly=True)
        os.close(fd)
    # 5. the work directory: a size-limited tmpfs owned by the test's uid
    os.makedirs(workdir, exist_ok=True)
    owner = cfg.get("uid") or 0
    group = cfg.get("gid") or 0
    _mount(
        "tmpfs",
        workdir,
        "tmpfs",
        MS_NOSUID | MS_NODEV,
        f"mode=700,uid={owner},gid={group},size={int(cfg.get('work_kb', 65536))}k,nr_inodes=16384",
    )
    for name, data in files.items():
        path = os.path.join(workdir, name)
        with open(path, "wb") as fh:
            fh.write(data)
        os.chmod(path, 0o644)
    for m in masks:
        _remount(m, readonly=True)
    return failures


def _drop_capabilities():
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            last = int(fh.read().strip())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        try:
            _prctl(PR_CAPBSET_DROP, cap)
        except OSError:
            pass  # no CAP_SETPCAP (unprivileged): nothing to drop anyway
    try:
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass


def _set_limits(limits):
    def setl(res, value):
        if value is None:
            return
        soft, hard = (value, value) if not isinstance(value, list) else value
        _cur_soft, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(res, (soft, hard))

    setl(resource.RLIMIT_CORE, 0)
    setl(resource.RLIMIT_CPU, limits.get("cpu"))
    setl(resource.RLIMIT_AS, limits.get("as"))
    setl(resource.RLIMIT_FSIZE, limits.get("fsize"))
    setl(resource.RLIMIT_NOFILE, limits.get("nofile"))
    setl(resource.RLIMIT_NPROC, limits.get("nproc"))


def _exec_runner(cfg):
    os.chdir(cfg["workdir"])
    _drop_capabilities()
    _set_limits(cfg["limits"])
    uid, gid = cfg.get("uid"), cfg.get("gid")
    if uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    runner_cfg = {
        "workdir": cfg["workdir"],
        "test_file": cfg["test_file"],
        "status_fd": cfg["status_fd"],
        "preload": cfg.get("preload", []),
        "test_cpu": cfg["test_cpu"],
    }
    python = cfg["python"]
    os.execve(
        python,
        [python, "-s", "-c", RUNNER_SOURCE, json.dumps(runner_cfg)],
        dict(os.environ),
    )


def _report(fd, payload):
    try:
        os.write(fd, (json.dumps(payload) + "\n").encode())
    except OSError:
        pass


def main():
    cfg = json.loads(sys.argv[1])
    status_fd = cfg["status_fd"]
    try:
        warnings = setup_filesystem(cfg) if cfg.get("fs_isolation") else []
    except Exception as exc:  # noqa: BLE001 - report anything
        sys.stderr.write(f"sandbox setup failed: {exc}\n")
        _report(status_fd, {"kind": "setup", "error": f"sandbox setup failed: {exc}"})
        os._exit(SETUP_FAILED)
    if cfg.get("probe"):
        _report(status_fd, {"kind": "probe", "warnings": warnings})

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            _exec_runner(cfg)
        except BaseException as exc:  # noqa: BLE001
            try:
                sys.stderr.write(f"sandbox: could not start the test runner: {exc}\n")
                sys.stderr.flush()
            finally:
                os._exit(EXEC_FAILED)

    # Minimal init: reap everything, stop when the runner is gone.
    while True:
        try:
            wpid, status, rusage = os.wait4(-1, 0)
        except ChildProcessError:
            status, rusage = 0, None
            break
        if wpid == pid:
            break
    cpu = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else None
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        code = 128 + sig
    else:
        sig = None
        code = os.WEXITSTATUS(status)
    _report(status_fd, {"kind": "launcher", "exit": code, "signal": sig, "cpu": cpu})
    # Exiting PID 1 makes the kernel SIGKILL every process left in the namespace.
    os._exit(code)


# ---------------------------------------------------------------------------
# The runner executed inside the sandbox by the real interpreter (with
# site-packages).  Exit codes: 0 passed, 1 assertion failed, 2 other error,
# 3 memory limit exceeded.  Before any code of the test or the workflow runs it
# imports the ``preload`` modules (the Agents SDK: seconds of CPU), lowers its
# RLIMIT_CPU to "CPU used so far + test_cpu" and writes ``{"kind": "ready"}`` to
# the status fd: the parent's test timeout starts there.  At the end it writes
# one ``{"kind": "runner"}`` JSON line with the outcome.
RUNNER_SOURCE = r"""
# vibegrapher-sandbox-runner
import json, os, sys
_cfg = json.loads(sys.argv[1])
del sys.argv[1:]
sys.argv[0] = _cfg["test_file"]
sys.dont_write_bytecode = True
_fd = _cfg["status_fd"]
try:
    os.set_inheritable(_fd, False)
except OSError:
    _fd = None
if _cfg["workdir"] not in sys.path:
    sys.path.insert(0, _cfg["workdir"])
import traceback, inspect, math, resource

def _status_line(payload):
    if _fd is not None:
        try:
            os.write(_fd, (json.dumps(payload) + "\n").encode())
        except Exception:
            pass

def _start_up():
    for name in _cfg["preload"]:
        try:
            __import__(name)
        except Exception:
            pass  # not installed or broken: the test's own import reports it
    usage = resource.getrusage(resource.RUSAGE_SELF)
    limit = math.ceil(usage.ru_utime + usage.ru_stime) + _cfg["test_cpu"]
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft)
    top = limit + 1 if hard == resource.RLIM_INFINITY else min(limit + 1, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (min(limit, top), top))
    _status_line({"kind": "ready", "cpu_limit": min(limit, top)})

def _report(status, error=None, code=0):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    _status_line({"kind": "runner", "status": status, "error": error})
    os._exit(code)

def _where(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if fr.filename in (_cfg["test_file"], os.path.join(_cfg["workdir"], "workflow.py")):
            return fr
    return frames[-1] if frames else None

def _describe(exc):
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if isinstance(exc, AssertionError) and not str(exc):
        fr = _where(exc)
        if fr is not None and fr.line:
            text = "AssertionError: %s (line %s)" % (fr.line.strip(), fr.lineno)
    if len(text) > 2000:
        text = text[:2000] + "..."
    return text

def _call(fn):
    if inspect.iscoroutinefunction(fn):
        import asyncio
        asyncio.run(fn())
    else:
        fn()

def _required_params(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

def _print_tb(exc):
    # hide the runner's own frames (compiled from -c, filename "<string>")
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)

# The test runs as the real __main__ module, as `python test_workflow.py` would run it, so that
# `if __name__ == "__main__": unittest.main()` finds its test cases.
import types
_runner_module = sys.modules["__main__"]
_test_module = types.ModuleType("__main__")
_test_module.__file__ = _cfg["test_file"]
_ns = _test_module.__dict__

def _run_test_class(cls):
    unittest = sys.modules.get("unittest")
    if unittest is not None and issubclass(cls, unittest.TestCase):
        for attr in unittest.TestLoader().getTestCaseNames(cls):
            try:
                cls(attr).debug()  # setUp, the test, tearDown; failures raise AssertionError
            except unittest.SkipTest:
                pass
        return
    instance = cls()
    for attr in list(vars(cls)):
        if attr.startswith("test") and callable(getattr(instance, attr)):
            _call(getattr(instance, attr))

def _main():
    with open(_cfg["test_file"], encoding="utf-8") as fh:
        source = fh.read()
    code = compile(source, _cfg["test_file"], "exec")
    sys.modules["__main__"] = _test_module
    exec(code, _ns)
    for name, obj in list(_ns.items()):
        if inspect.isfunction(obj) and name.startswith("test") and obj.__module__ == "__main__":
            missing = _required_params(obj)
            if missing:
                raise TypeError("test function %s() needs arguments %s; fixtures are not supported" % (name, missing))
            _call(obj)
        elif inspect.isclass(obj) and name.startswith("Test") and obj.__module__ == "__main__":
            _run_test_class(obj)

_start_up()
try:
    _main()
except MemoryError as exc:
    _ns.clear()
    sys.modules.pop("workflow", None)
    try:
        traceback.clear_frames(exc.__traceback__)  # free the test's locals first
        _print_tb(exc)
    except BaseException:
        pass
    _report("error", "Memory limit exceeded (MemoryError)", 3)
except AssertionError as exc:
    _print_tb(exc)
    _report("failed", _describe(exc), 1)
except SystemExit as exc:
    # An exit status is the test's verdict, as for `python test_workflow.py`: 0 passed, else failed.
    _code = exc.code
    if _code is None or (isinstance(_code, int) and _code == 0):
        _report("passed", None, 0)
    if isinstance(_code, int):
        _report("failed", "The test exited with status %d" % _code, 1)
    sys.stderr.write("%s\n" % (_code,))
    _report("failed", ("The test exited with status 1: %s" % (_code,))[:2000], 1)
except BaseException as exc:
    _print_tb(exc)
    _report("error", _describe(exc), 2)
_report("passed", None, 0)
"""


if __name__ == "__main__":
    main()
