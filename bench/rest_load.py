"""REST load test: wrk against daphne and uvicorn, server pinned to one core and the load to another.

    sudo apt-get install wrk
    .venv/bin/python bench/rest_load.py                       # daphne and uvicorn (1 worker), 10 s each
    .venv/bin/python bench/rest_load.py --servers uvicorn:1,uvicorn:2 --duration 5
    .venv/bin/python bench/rest_load.py --only "GET /projects/:id" --concurrency 16

For each server it makes a fresh SQLite database (migrate) and media folder, starts the server under
`taskset -c <server core>` with the environment production uses (DEBUG off, logging at WARNING),
creates 20 projects over HTTP, then runs wrk under `taskset -c <load core>`:

    GET  /projects        c=1, c=32   (20 projects in the list)
    GET  /projects/:id    c=1, c=16, c=32, c=128
    POST /projects        c=1, c=32   (unique names from a wrk Lua script; each makes a git repository)

and prints requests/s, p50 and p99 latency, failed requests (non-2xx, socket errors and timeouts) and
the server's CPU time per request, the figure least disturbed by other work on the machine.
A scenario whose wrk run finishes fewer requests than its concurrency in the whole run is marked
STALLED. The table is printed as Markdown and, with --json, written out in full.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cpu_time import tree_cpu_seconds  # noqa: E402
from machine_speed import speed_line  # noqa: E402

from tests.processes import free_port, wait_until_healthy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STARTUP_TIMEOUT_S = 120.0
SEEDED_PROJECTS = 20

POST_SCRIPT = r"""
local counter = 0
math.randomseed(os.time())
local run = math.random(1, 1000000000)
request = function()
  counter = counter + 1
  local body = string.format('{"name": "Load %d %d"}', run, counter)
  return wrk.format("POST", "/projects", {["Content-Type"] = "application/json"}, body)
end
"""


@dataclass
class Scenario:
    label: str
    method: str
    path: str  # "{project_id}" is filled in
    concurrency: int


SCENARIOS = [
    Scenario("GET /projects", "GET", "/projects", 1),
    Scenario("GET /projects", "GET", "/projects", 32),
    Scenario("GET /projects/:id", "GET", "/projects/{project_id}", 1),
    Scenario("GET /projects/:id", "GET", "/projects/{project_id}", 16),
    Scenario("GET /projects/:id", "GET", "/projects/{project_id}", 32),
    Scenario("GET /projects/:id", "GET", "/projects/{project_id}", 128),
    Scenario("POST /projects", "POST", "/projects", 1),
    Scenario("POST /projects", "POST", "/projects", 32),
]


@dataclass
class Result:
    server: str
    scenario: str
    concurrency: int
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    failed: int
    cpu_ms_per_request: float
    stalled: bool


def server_command(kind: str, workers: int, port: int, app: str) -> list[str]:
    if kind == "daphne":
        return [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    if kind == "uvicorn":
        return [
            PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    raise SystemExit(f"unknown server {kind!r}; use daphne or uvicorn[:workers]")


def service_env(workdir: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "VIBEGRAPHER_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="vibegrapher.settings",
        DATABASE_URL=f"sqlite:///{workdir / 'bench.sqlite3'}",
        MEDIA_PATH=str(workdir / "media"),
        DEBUG="0",
        LOG_LEVEL="WARNING",
        RUN_REAPER_ENABLED="0",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def start_server(
    kind: str, workers: int, app: str, env: dict[str, str], core: str, log: Path
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = ["taskset", "-c", core, *server_command(kind, workers, port, app)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, log, timeout_s=STARTUP_TIMEOUT_S)
    except RuntimeError as exc:
        stop_server(process)
        raise SystemExit(f"{kind}: {exc}") from exc
    return process, base


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    number, unit = match.groups()
    return float(number) * _UNITS_MS[unit]


def parse_wrk(output: str) -> dict:
    def grab(pattern: str, default: str = "0") -> str:
        match = re.search(pattern, output)
        return match.group(1) if match else default

    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": int(grab(r"(\d+) requests in")),
        "requests_per_s": float(grab(r"Requests/sec:\s+([\d.]+)")),
        "p50_ms": _ms(grab(r"\n\s+50%\s+(\S+)", "0ms")),
        "p99_ms": _ms(grab(r"\n\s+99%\s+(\S+)", "0ms")),
        "failed": int(grab(r"Non-2xx or 3xx responses: (\d+)"))
        + (sum(int(n) for n in socket_errors.groups()) if socket_errors else 0),
    }


def run_wrk(base: str, scenario: Scenario, path: str, duration: int, core: str, lua: Path | None) -> tuple[dict, str]:
    command = [
        "taskset", "-c", core, "wrk", "-t1", f"-c{scenario.concurrency}", f"-d{duration}s", "--latency",
        "--timeout", "10s",
    ]  # fmt: skip
    if lua is not None:
        command += ["-s", str(lua)]
    command.append(base + path)
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    return parse_wrk(output), output


def seed(base: str, count: int) -> list[str]:
    with httpx.Client(base_url=base, timeout=60) as client:
        ids = []
        for n in range(count):
            response = client.post("/projects", json={"name": f"Seeded project {n + 1}"})
            response.raise_for_status()
            ids.append(response.json()["id"])
        listed = client.get("/projects").json()
        assert len(listed) == count, f"expected {count} projects, listed {len(listed)}"
    return ids


def bench_server(server: str, args: argparse.Namespace, scenarios: list[Scenario]) -> list[Result]:
    kind, _, workers_text = server.partition(":")
    workers = int(workers_text or 1)
    label = f"{kind} x{workers}" if kind == "uvicorn" else kind
    workdir = Path(tempfile.mkdtemp(prefix="vg-rest-load-"))
    env = service_env(workdir, dict(item.split("=", 1) for item in args.env))
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
        process, base = start_server(kind, workers, args.app, env, args.server_core, workdir / "server.log")
        try:
            project_ids = seed(base, SEEDED_PROJECTS)
            lua = workdir / "post_projects.lua"
            lua.write_text(POST_SCRIPT)
            # Let the kernel write back the seeded repositories first: on this machine that took CPU
            # from the first scenario (GET /projects c1: 533 req/s right after seeding, 800 later).
            subprocess.run(["sync"], check=True)
            time.sleep(3)
            # Warm up (imports, first queries, the connection) so the first scenario is not penalised.
            run_wrk(
                base, Scenario("warm-up", "GET", "/projects", 4), f"/projects/{project_ids[0]}", 2, args.load_core, None
            )
            run_wrk(base, Scenario("warm-up", "GET", "/projects", 4), "/projects", 2, args.load_core, None)
            results = []
            for scenario in scenarios:
                path = scenario.path.format(project_id=project_ids[len(project_ids) // 2])
                before = tree_cpu_seconds(process.pid)
                numbers, raw = run_wrk(
                    base, scenario, path, args.duration, args.load_core, lua if scenario.method == "POST" else None
                )
                cpu = tree_cpu_seconds(process.pid) - before
                result = Result(
                    server=label,
                    scenario=scenario.label,
                    concurrency=scenario.concurrency,
                    cpu_ms_per_request=round(1000 * cpu / max(numbers["requests"], 1), 2),
                    stalled=numbers["requests"] < scenario.concurrency,
                    **numbers,
                )
                results.append(result)
                print(format_row(result), flush=True)
                if args.verbose:
                    print(raw)
                if process.poll() is not None:
                    raise SystemExit(
                        f"{kind} died during {scenario.label}:\n{(workdir / 'server.log').read_text()[-3000:]}"
                    )
            errors = [
                line
                for line in (workdir / "server.log").read_text().splitlines()
                if "Traceback" in line or " ERROR " in line
            ]
            if errors:
                print(f"  server log of {label} has {len(errors)} error lines; first: {errors[0]}", flush=True)
            return results
        finally:
            stop_server(process)
    finally:
        if args.keep:
            print(f"  kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


HEADER = (
    "| server | scenario | conc | req/s | p50 ms | p99 ms | failed | server CPU ms/req |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|"
)


def format_row(r: Result) -> str:
    stall = " STALLED" if r.stalled else ""
    return (
        f"| {r.server} | {r.scenario} | {r.concurrency} | {r.requests_per_s:.0f}{stall} | {r.p50_ms:.2f} | "
        f"{r.p99_ms:.2f} | {r.failed} | {r.cpu_ms_per_request:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="daphne,uvicorn:1", help="comma-separated: daphne, uvicorn[:workers]")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--only", action="append", default=[], help="run only scenarios with this label")
    parser.add_argument("--concurrency", type=int, action="append", default=[], help="run only these concurrencies")
    parser.add_argument("--app", default="vibegrapher.asgi:application", help="the ASGI application to serve")
    parser.add_argument("--server-core", default="0")
    parser.add_argument("--load-core", default="1")
    parser.add_argument("--env", action="append", default=[], help="extra KEY=VALUE for the server")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database and media folder")
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    scenarios = [
        s
        for s in SCENARIOS
        if (not args.only or s.label in args.only) and (not args.concurrency or s.concurrency in args.concurrency)
    ]
    print(f"server on core {args.server_core}, wrk on core {args.load_core}, {args.duration} s per run, "
          f"{SEEDED_PROJECTS} projects seeded; load average now {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    print(speed_line(), flush=True)
    print(HEADER, flush=True)
    results = []
    for server in args.servers.split(","):
        results += bench_server(server.strip(), args, scenarios)
    print("\n" + HEADER)
    for result in results:
        print(format_row(result))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
