"""The test runner that executes inside the sandbox (never imported by the server).

Started by ``testcases.sandbox`` as ``python -s sandbox_runner.py <config-json>`` inside bubblewrap
(or, with ``SANDBOX_ALLOW_WEAK=1``, as a plain child process). Standard library only. In order:
applies the rlimits to itself, drops to the per-run uid when given one (the server runs as root),
imports the ``preload`` modules (start-up, not test time), lowers RLIMIT_CPU to the test's share and
writes ``{"kind": "ready"}`` to the status fd, then runs the test as ``__main__`` and every top-level
``test*`` function and ``Test*`` class, and writes one ``{"kind": "runner"}`` line with the outcome.
Exit codes: 0 passed, 1 assertion failed, 2 other error, 3 memory limit exceeded.
"""

import asyncio
import inspect
import json
import math
import os
import resource
import sys
import traceback
import types
import unittest
from collections.abc import Callable
from typing import Any

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR, EXIT_MEMORY = 0, 1, 2, 3

_cfg: dict[str, Any] = json.loads(sys.argv[1])
_fd: int | None = _cfg["status_fd"]
_test_module = types.ModuleType("__main__")
_ns = _test_module.__dict__


def _status_line(payload: dict[str, Any]) -> None:
    if _fd is not None:
        try:
            os.write(_fd, (json.dumps(payload) + "\n").encode())
        except OSError:
            pass


def _set_limits(limits: dict[str, int]) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name, res in (
        ("as", resource.RLIMIT_AS),
        ("fsize", resource.RLIMIT_FSIZE),
        ("nofile", resource.RLIMIT_NOFILE),
        ("nproc", resource.RLIMIT_NPROC),
    ):
        resource.setrlimit(res, (limits[name], limits[name]))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"] + 1))


def _drop_uid(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to non-root: every capability is cleared too


def _start_up() -> None:
    for name in _cfg["preload"]:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - not installed or broken: the test's own import reports it
            pass
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = min(math.ceil(usage.ru_utime + usage.ru_stime) + _cfg["test_cpu"], soft)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, min(limit + 1, hard)))
    _status_line({"kind": "ready", "cpu_limit": limit})


def _report(status: str, error: str | None = None, code: int = EXIT_PASSED) -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a closed stdout must not hide the verdict
        pass
    _status_line({"kind": "runner", "status": status, "error": error})
    os._exit(code)


def _where(exc: BaseException) -> traceback.FrameSummary | None:
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if fr.filename in (_cfg["test_file"], os.path.join(_cfg["workdir"], "workflow.py")):
            return fr
    return frames[-1] if frames else None


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if isinstance(exc, AssertionError) and not str(exc):
        fr = _where(exc)
        if fr is not None and fr.line:
            text = f"AssertionError: {fr.line.strip()} (line {fr.lineno})"
    return text[:2000] + "..." if len(text) > 2000 else text


def _print_tb(exc: BaseException) -> None:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:  # hide the runner's frames
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def _call(fn: Callable[[], Any]) -> None:
    if inspect.iscoroutinefunction(fn):
        asyncio.run(fn())
    else:
        fn()


def _required_params(fn: Callable[..., Any]) -> list[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in sig.parameters.values() if p.default is p.empty and p.kind in kinds]


def _run_test_class(cls: type) -> None:
    if issubclass(cls, unittest.TestCase):
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


def _run_test() -> None:
    with open(_cfg["test_file"], encoding="utf-8") as fh:
        code = compile(fh.read(), _cfg["test_file"], "exec")
    # The test runs as the real __main__, as `python test_workflow.py` would: unittest.main() works.
    sys.modules["__main__"] = _test_module
    exec(code, _ns)
    for name, obj in list(_ns.items()):
        if inspect.isfunction(obj) and name.startswith("test") and obj.__module__ == "__main__":
            missing = _required_params(obj)
            if missing:
                raise TypeError(f"test function {name}() needs arguments {missing}; fixtures are not supported")
            _call(obj)
        elif inspect.isclass(obj) and name.startswith("Test") and obj.__module__ == "__main__":
            _run_test_class(obj)


def main() -> None:
    global _fd
    del sys.argv[1:]
    sys.argv[0] = _cfg["test_file"]
    sys.dont_write_bytecode = True
    _test_module.__file__ = _cfg["test_file"]
    try:
        os.set_inheritable(_cfg["status_fd"], False)
    except OSError:
        _fd = None
    _set_limits(_cfg["limits"])
    if _cfg.get("uid") is not None:
        _drop_uid(_cfg["uid"])
    os.chdir(_cfg["workdir"])
    sys.path.insert(0, _cfg["workdir"])  # -I left the runner's own directory out
    _start_up()
    try:
        _run_test()
    except MemoryError as exc:
        _ns.clear()
        sys.modules.pop("workflow", None)
        try:
            traceback.clear_frames(exc.__traceback__)  # free the test's locals first
            _print_tb(exc)
        except BaseException:  # noqa: BLE001
            pass
        _report("error", "Memory limit exceeded (MemoryError)", EXIT_MEMORY)
    except AssertionError as exc:
        _print_tb(exc)
        _report("failed", _describe(exc), EXIT_FAILED)
    except SystemExit as exc:
        # An exit status is the test's verdict, as for `python test_workflow.py`: 0 passed, else failed.
        if exc.code is None or exc.code == 0:
            _report("passed")
        if isinstance(exc.code, int):
            _report("failed", f"The test exited with status {exc.code}", EXIT_FAILED)
        sys.stderr.write(f"{exc.code}\n")
        _report("failed", f"The test exited with status 1: {exc.code}"[:2000], EXIT_FAILED)
    except BaseException as exc:  # noqa: BLE001 - every other outcome is the test's error
        _print_tb(exc)
        _report("error", _describe(exc), EXIT_ERROR)
    _report("passed")


if __name__ == "__main__":
    main()
