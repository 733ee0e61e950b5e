"""Vibecode engine benchmark: service overhead, concurrency, event latency.

    .venv/bin/python bench/vibecode_bench.py [--server uvicorn|daphne] [--runs 30] [--concurrent 50]
    .venv/bin/python bench/vibecode_bench.py --executor worker --worker-processes 2 --redis redis://127.0.0.1:6379/0

Starts a fresh SQLite database and media folder, the model double (in this process) and one server
process (by default executing the runs itself; `--executor worker` runs them in `vibecode_worker`
processes, as production does, and `--web-workers` starts several uvicorn processes; both need the
Redis channel layer), then measures over real HTTP and WebSocket connections:

(a) median wall time of one full run (vibecoder patch, evaluator approval, diff, messages, events)
    when the model double answers instantly: the service's own overhead per run;
(b) wall time of N concurrent runs in N sessions when every model call takes 500 ms, divided by the
    time of one such run alone (1.0 would be perfect overlap);
(c) p50/p99 time from the model double writing an answer to the matching `conversation_message`
    event reaching a WebSocket client;
(d) the quick-test gate's wall time per patch (import check plus the project's quick tests in the
    sandbox, read from the server's `quick-test gate:` log lines): in (a) (no quick tests) and in
    runs of projects with one quick test.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import websockets
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model_double import ModelDouble  # noqa: E402
from tests.processes import free_port  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from cpu_time import tree_cpu_seconds  # noqa: E402
from machine_speed import speed_line  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def start_server(
    kind: str, env: dict[str, str], port: int, log: Path, profile: str | None, web_workers: int = 1
) -> subprocess.Popen:
    if kind == "uvicorn":
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "vibegrapher.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(web_workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets-sansio",
            "--no-access-log",
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",  # as scripts/start-web: a socket's Redis read may not end at once
            "10",
        ]
    else:
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "vibegrapher.asgi:application"]
    if os.environ.get("BENCH_SERVER_COMMAND"):  # e.g. a profiler wrapping the server
        command = [sys.executable, *os.environ["BENCH_SERVER_COMMAND"].split(), str(port)]
    if profile:  # sample the server with py-spy (pip install py-spy) into a flame-graph-ready file
        command = ["py-spy", "record", "--gil", "--rate", "250", "--format", "raw", "-o", profile, "--", *command]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


class EventLog:
    """A WebSocket client that timestamps every event it receives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[tuple[float, dict]] = []
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.socket = await websockets.connect(self.url, max_size=None)
        first = json.loads(await self.socket.recv())
        assert first["type"] == "subscribed", first
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.socket:
            self.received.append((time.time(), json.loads(raw)))

    async def stop(self) -> None:
        await self.socket.close()
        if self.task:
            await asyncio.gather(self.task, return_exceptions=True)


async def one_run(client: httpx.AsyncClient, session_id: str, prompt: str) -> float:
    started = time.perf_counter()
    response = await client.post(f"/sessions/{session_id}/messages", json={"prompt": prompt})
    elapsed = time.perf_counter() - started
    body = response.json()
    if response.status_code != 200 or body.get("status") != "pending_human_review":
        raise RuntimeError(f"run failed: {response.status_code} {body}")
    return elapsed


async def new_sessions(client: httpx.AsyncClient, label: str, count: int) -> list[tuple[str, str]]:
    """One project and its global session per run, so no run waits on another's session."""
    ids = []
    for index in range(count):
        project = (await client.post("/projects", json={"name": f"bench {label} {index}"})).json()
        session = (await client.post(f"/projects/{project['id']}/sessions", json={})).json()
        ids.append((project["id"], session["id"]))
    return ids


def latencies(events: EventLog, double: ModelDouble) -> list[float]:
    sent = dict(double.sent)
    values = []
    for received_at, event in events.received:
        if event["type"] == "conversation_message" and event["data"].get("last_response_id") in sent:
            values.append((received_at - sent[event["data"]["last_response_id"]]) * 1000)
    return values


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="vibegrapher-bench-"))
    database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    if args.postgres:
        database_url = postgres_database_create(args.postgres)
    try:
        await measure(args, workdir, database_url)
    finally:
        if args.postgres:
            postgres_database_drop(args.postgres, database_url)


def postgres_database_create(server_url: str) -> str:
    """A new, empty database on the server of `server_url` (its role needs CREATEDB); returns its URL."""
    name = f"vibegrapher_bench_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def postgres_database_drop(server_url: str, database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def measure(args: argparse.Namespace, workdir: Path, database_url: str) -> None:
    double = ModelDouble().start()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MEDIA_PATH": str(workdir / "media"),
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": double.base_url,
        "OPENAI_MAX_RETRIES": "0",
        "VIBECODE_RATE": "",
        "DEBUG": "0",
        "VIBECODE_EXECUTOR": args.executor,
        "REDIS_URL": args.redis or "",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    server = start_server(args.server, env, port, workdir / "server.log", args.profile, args.web_workers)
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "vibecode_worker"],
            cwd=ROOT,
            env=env,
            stdout=(workdir / f"worker-{index}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for index in range(args.worker_processes if args.executor == "worker" else 0)
    ]
    processes = [server.pid, *(worker.pid for worker in workers)]
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=200)) as client:
            for _ in range(600):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            pairs = await new_sessions(client, "a", args.runs + 1)

            # (a) overhead: instant model, sequential runs, each in a fresh session.
            events = EventLog(f"ws://127.0.0.1:{port}/ws/projects/{pairs[0][0]}")
            await events.start()
            await one_run(client, pairs[0][1], "warm up")
            await events.stop()
            overhead = []
            instant_latency: list[float] = []
            cpu_before = tree_cpu_seconds(*processes)
            for project_id, session_id in pairs[1:]:
                events = EventLog(f"ws://127.0.0.1:{port}/ws/projects/{project_id}")
                await events.start()
                overhead.append(await one_run(client, session_id, "add a comment") * 1000)
                await asyncio.sleep(0.05)
                await events.stop()
                instant_latency += latencies(events, double)

            cpu_per_run = (tree_cpu_seconds(*processes) - cpu_before) / len(overhead) * 1000

            # (b) concurrency: every model call takes 500 ms.
            double.default_delay = 0.5
            single_pairs = await new_sessions(client, "b", 3)
            single = [await one_run(client, session_id, "add a comment") for _, session_id in single_pairs]
            ideal = statistics.median(single)
            concurrent_pairs = await new_sessions(client, "c", args.concurrent)
            logs = [EventLog(f"ws://127.0.0.1:{port}/ws/projects/{project_id}") for project_id, _ in concurrent_pairs]
            await asyncio.gather(*(log.start() for log in logs))
            started = time.perf_counter()
            await asyncio.gather(*(one_run(client, session_id, "add a comment") for _, session_id in concurrent_pairs))
            wall = time.perf_counter() - started
            await asyncio.sleep(0.2)
            await asyncio.gather(*(log.stop() for log in logs))
            loaded_latency = [value for log in logs for value in latencies(log, double)]

            # (d) the quick-test gate, instant model, one quick test per project.
            double.default_delay = 0
            gate_pairs = await new_sessions(client, "d", min(args.runs, 10))
            for project_id, session_id in gate_pairs:
                test = {"name": "imports", "test_code": "import workflow\n", "quick_test": True}
                await client.post(f"/projects/{project_id}/tests", json=test)
                await one_run(client, session_id, "add a comment")
    finally:
        for worker in workers:
            worker.terminate()
        server.send_signal(2 if args.profile else 15)
        server.wait(timeout=300 if os.environ.get("BENCH_SERVER_COMMAND") else 30)
        for worker in workers:
            worker.wait(timeout=30)
        double.stop()

    gate_ms: dict[int, list[float]] = {}
    log_lines = [line for log in workdir.glob("*.log") for line in log.read_text(errors="replace").splitlines()]
    for line in log_lines:
        if "quick-test gate:" in line:
            fields = dict(part.split("=", 1) for part in line.split("quick-test gate:", 1)[1].split())
            gate_ms.setdefault(int(fields["quick_tests"]), []).append(float(fields["wall_ms"]))
    executing = f"{len(workers)} vibecode_worker process(es)" if workers else "the web process(es)"
    print(
        f"server: {args.server} ({args.web_workers} process(es)), runs executed by {executing}, "
        f"database: {'PostgreSQL' if args.postgres else 'SQLite'}, "
        f"channel layer: {'Redis' if args.redis else 'in-memory'}; {speed_line()}"
    )
    print(
        f"(a) one full run, instant model, median of {len(overhead)}: {statistics.median(overhead):.1f} ms "
        f"(p90 {percentile(overhead, 0.9):.1f} ms)  target < 50 ms"
    )
    print(f"    server CPU per run (user+system, includes the WebSocket client's connect): {cpu_per_run:.1f} ms")
    print(
        f"(b) {args.concurrent} concurrent runs, 500 ms per model call: wall {wall:.2f} s, one run alone "
        f"{ideal:.2f} s, ratio {wall / ideal:.2f}  target <= 1.3"
    )
    print(
        f"(c) model answer -> WebSocket event, instant model: p50 {percentile(instant_latency, 0.5):.1f} ms, "
        f"p99 {percentile(instant_latency, 0.99):.1f} ms (n={len(instant_latency)})"
    )
    print(
        f"    during the {args.concurrent} concurrent runs: p50 {percentile(loaded_latency, 0.5):.1f} ms, "
        f"p99 {percentile(loaded_latency, 0.99):.1f} ms (n={len(loaded_latency)})  target p99 < 50 ms"
    )
    for count, values in sorted(gate_ms.items()):
        print(
            f"(d) quick-test gate per patch, {count} quick test(s) + import check: median "
            f"{statistics.median(values):.0f} ms, p90 {percentile(values, 0.9):.0f} ms (n={len(values)})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--profile", metavar="FILE", help="record the server with py-spy into FILE")
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn --workers (needs --redis when > 1)")
    parser.add_argument(
        "--executor", choices=["inline", "worker"], default="inline", help="VIBECODE_EXECUTOR (worker needs --redis)"
    )
    parser.add_argument("--worker-processes", type=int, default=2, help="vibecode_worker processes (--executor worker)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server (role with CREATEDB): the bench uses a new database on it",
    )
    parser.add_argument(
        "--redis", metavar="URL", help="REDIS_URL: the Redis channel layer, e.g. redis://127.0.0.1:6379/0"
    )
    arguments = parser.parse_args()
    if (arguments.web_workers > 1 or arguments.executor == "worker") and not arguments.redis:
        parser.error("several processes reach WebSocket clients only through Redis: give --redis URL")
    if arguments.web_workers > 1 and arguments.server != "uvicorn":
        parser.error("--web-workers is for --server uvicorn")
    asyncio.run(main(arguments))
