"""Real-time load: 200 WebSocket clients on one project while 20 vibecode runs execute on two instances.

    .venv/bin/python bench/events_load.py \\
        --database-url postgresql://vibegrapher:vibegrapher@127.0.0.1:5432/vibegrapher \\
        --redis-url redis://127.0.0.1:6379/0
    (or DATABASE_URL / REDIS_URL in the environment; `scripts/services postgres|redis` prints both)

The production shape, everything on 127.0.0.1: a fresh PostgreSQL database (created next to the one
named by --database-url, dropped at the end) and media folder, `migrate`, the model double in this
process (default answers: a valid patch and an approval, each after --model-delay seconds), and two
server instances (uvicorn with uvloop/httptools/websockets, or --server daphne) sharing only
PostgreSQL and the Redis channel layer.

1. Setup over the API: one project whose workflow gets 20 more agents (a vibecode run, review and
   commit), so 20 node sessions can each run at once.
2. --clients WebSocket clients, split across both instances, subscribe to the project.
3. --runs runs start at the same moment, alternately through instance A and B.
4. Every client must receive every event the runs stored (ProjectEvent rows), each once: missing,
   duplicate and out-of-order deliveries are counted. Delivery latency is the client's receive time
   minus the event's stored `created_at` (same machine clock).
5. REST throughput of GET /projects and GET /projects/:id against instance A, --rest-concurrency
   connections for --rest-seconds each (wrk when installed, else httpx).

Prints a plain table; exit status 1 when a client missed an event or a request failed.
"""

import argparse
import asyncio
import difflib
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import redis
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model_double import ModelDouble, evaluation, patch  # noqa: E402  (needs ROOT on the path)
from tests.processes import free_port, stop  # noqa: E402

STARTUP_TIMEOUT_S = 120.0
DELIVERY_GRACE_S = 120.0  # after the last run answered; a client still missing events then fails the benchmark
EXTRA_AGENTS = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="a PostgreSQL server (any database on it); a fresh database is created beside it",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", ""), help="Redis for the channel layer and cache"
    )
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument(
        "--ws-per-message-deflate",
        choices=["true", "false"],
        default="true",
        help="uvicorn's WebSocket compression (its default: true)",
    )
    parser.add_argument("--clients", type=int, default=200, help="WebSocket clients, split across both instances")
    parser.add_argument(
        "--runs", type=int, default=20, help="concurrent vibecode runs (at most 20: one per node session)"
    )
    parser.add_argument("--model-delay", type=float, default=0.5, help="seconds the model double takes per answer")
    parser.add_argument("--rest-seconds", type=float, default=10.0)
    parser.add_argument("--rest-concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=900.0, help="hard limit for the whole benchmark, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the database, media folder and server logs")
    parser.add_argument(
        "--json", type=Path, help="also write every event's times (stored, first and last receipt) here"
    )
    args = parser.parse_args()
    if not 1 <= args.runs <= EXTRA_AGENTS:
        parser.error(f"--runs must be between 1 and {EXTRA_AGENTS}")
    return args


def requirements_missing(args: argparse.Namespace) -> list[str]:
    missing = []
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        missing.append(
            "a PostgreSQL server: --database-url postgresql://user:password@127.0.0.1:5432/db (or DATABASE_URL)"
        )
    if not args.redis_url.startswith(("redis://", "rediss://")):
        missing.append("a Redis server: --redis-url redis://127.0.0.1:6379/0 (or REDIS_URL)")
    return missing


# --- Database, servers ----------------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def database_create(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_command(kind: str, port: int, deflate: str) -> list[str]:
    if kind == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "vibegrapher.asgi:application"]
    return [
        sys.executable, "-m", "uvicorn", "vibegrapher.asgi:application",
        "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
        "--ws-per-message-deflate", deflate, "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip


def wait_healthy(processes: list[tuple[subprocess.Popen, str, Path]]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    pending = list(processes)
    while pending:
        process, url, log = pending[0]
        if process.poll() is not None:
            raise RuntimeError(f"server {url} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server {url} did not answer /health within {STARTUP_TIMEOUT_S:g} s")
        time.sleep(0.2)


# --- Setup through the API ------------------------------------------------------------------------


def twenty_agents_patch(code: str) -> tuple[str, list[str]]:
    names = [f"worker_{i:02d}_agent" for i in range(1, EXTRA_AGENTS + 1)]
    added = "".join(
        f'\n{name} = Agent(\n    name="Worker {name[7:9]}",\n    instructions="Answer briefly.",\n)\n' for name in names
    )
    new = code + added
    diff = difflib.unified_diff(
        code.splitlines(keepends=True), new.splitlines(keepends=True), "a/workflow.py", "b/workflow.py"
    )
    return "".join(diff), names


async def project_with_node_sessions(
    http: httpx.AsyncClient, url: str, double: ModelDouble, count: int
) -> tuple[str, list[str]]:
    project = (
        (await http.post(f"{url}/projects", json={"name": f"Events load {uuid.uuid4().hex[:6]}"}))
        .raise_for_status()
        .json()
    )
    text, names = twenty_agents_patch(project["current_code"])
    double.script(
        patch(text, "Add worker agents", match="vibecoder"),
        evaluation(True, "Adds them.", "Add 20 worker agents", match="evaluator"),
    )
    global_session = (await http.post(f"{url}/projects/{project['id']}/sessions", json={})).raise_for_status().json()
    result = (
        await http.post(f"{url}/sessions/{global_session['id']}/messages", json={"prompt": "Add 20 worker agents"})
    ).json()
    if result.get("status") != "pending_human_review":
        raise RuntimeError(f"setup run did not produce a diff: {result}")
    (await http.post(f"{url}/diffs/{result['diff_id']}/review", json={"approved": True})).raise_for_status()
    (await http.post(f"{url}/diffs/{result['diff_id']}/commit", json={})).raise_for_status()
    sessions = []
    for name in names[:count]:
        body = {"session_type": "node", "node_id": name}
        sessions.append(
            (await http.post(f"{url}/projects/{project['id']}/sessions", json=body)).raise_for_status().json()["id"]
        )
    return project["id"], sessions


# --- WebSocket clients ----------------------------------------------------------------------------


@dataclass
class Client:
    url: str
    # (seq, type, receive wall time, session id)
    received: list[tuple[int, str, float, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def listen(self, subscribed: asyncio.Event, stop: asyncio.Event, connect_slots: asyncio.Semaphore) -> None:
        try:
            async with connect_slots:
                socket = await websockets.connect(self.url, open_timeout=60, max_size=None)
            async with socket:
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(socket.recv(), 0.5)
                    except TimeoutError:
                        continue
                    at = time.time()
                    message = json.loads(raw)
                    if message["type"] == "subscribed":
                        subscribed.set()
                    elif "seq" in message:
                        self.received.append((message["seq"], message["type"], at, message["data"].get("session_id")))
        except Exception as exc:  # noqa: BLE001  (reported per client in the table, never hidden)
            self.errors.append(f"{type(exc).__name__}: {exc}")
            subscribed.set()


def event_rows(database_url: str, project_id: str, after: int) -> list[tuple[int, str, float]]:
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT seq, type, created_at FROM vg_sessions_projectevent"
            " WHERE project_id = %s AND seq > %s ORDER BY seq",
            (uuid.UUID(project_id), after),
        ).fetchall()
    return [(seq, kind, created.timestamp()) for seq, kind, created in rows]


def last_seq(database_url: str, project_id: str) -> int:
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        row = conn.execute("SELECT event_seq FROM projects_project WHERE id = %s", (uuid.UUID(project_id),)).fetchone()
    if row is None:
        raise LookupError(f"project {project_id} is not in the database")
    return int(row[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux): the cost apart from how loaded the machine is."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --- REST throughput ------------------------------------------------------------------------------


def rest_wrk(url: str, seconds: float, concurrency: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{seconds:g}s", "--timeout", "10s", "--latency", url],
        check=False, capture_output=True, text=True, timeout=seconds + 60,
    ).stdout  # fmt: skip

    def number(pattern: str) -> float:
        match = re.search(pattern, out)
        return float(match.group(1)) if match else 0.0

    def latency_ms(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if not match:
            return float("nan")
        return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]

    requests = int(number(r"(\d+) requests in"))
    errors = int(number(r"Non-2xx or 3xx responses: (\d+)"))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {
        "tool": "wrk",
        "requests": requests,
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "p50": latency_ms("50%"),
        "p99": latency_ms("99%"),
        "errors": errors,
    }


async def rest_httpx(url: str, seconds: float, concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as http:
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    ok = (await http.get(url)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {
        "tool": "httpx", "requests": len(latencies), "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99), "errors": errors,
    }  # fmt: skip


# --- The benchmark --------------------------------------------------------------------------------


async def bench(
    args: argparse.Namespace, database_url: str, urls: list[str], pids: list[int], double: ModelDouble
) -> int:
    failures = 0
    async with httpx.AsyncClient(timeout=120) as http:
        project_id, sessions = await project_with_node_sessions(http, urls[0], double, args.runs)
        print(f"setup: project {project_id}, {len(sessions)} node sessions", flush=True)

        baseline = last_seq(database_url, project_id)
        stop_listening = asyncio.Event()
        connect_slots = asyncio.Semaphore(25)
        clients = [
            Client(urls[i % 2].replace("http://", "ws://") + f"/ws/projects/{project_id}?after=latest")
            for i in range(args.clients)
        ]
        subscribed = [asyncio.Event() for _ in clients]
        listeners = [
            asyncio.create_task(c.listen(s, stop_listening, connect_slots))
            for c, s in zip(clients, subscribed, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(s.wait() for s in subscribed)), 120)
        connect_errors = [e for c in clients for e in c.errors]
        print(f"clients: {args.clients - len(connect_errors)} of {args.clients} subscribed", flush=True)

        async def run(index: int, session_id: str) -> dict:
            url = urls[index % 2]
            response = await http.post(
                f"{url}/sessions/{session_id}/messages", json={"prompt": f"Note load run {index}"}
            )
            return {"status_code": response.status_code, **response.json()}

        cpu_before = [cpu_seconds(pid) for pid in (*pids, os.getpid())]
        started = time.time()
        results = await asyncio.gather(*(run(i, s) for i, s in enumerate(sessions)))
        runs_done = time.time()
        bad_runs = [r for r in results if r["status_code"] != 200 or r.get("status") != "pending_human_review"]
        failures += len(bad_runs)
        for result in bad_runs[:5]:
            print("run failed:", json.dumps(result)[:400])

        expected = event_rows(database_url, project_id, baseline)
        expected_seqs = {seq for seq, _, _ in expected}
        # Every run has answered; wait (bounded) for the last deliveries.
        deadline = time.monotonic() + DELIVERY_GRACE_S
        while time.monotonic() < deadline and any(
            not expected_seqs <= {s for s, *_ in c.received} for c in clients if not c.errors
        ):
            await asyncio.sleep(0.2)
        stop_listening.set()
        await asyncio.gather(*listeners)
        cpu_used = [cpu_seconds(pid) - before for pid, before in zip((*pids, os.getpid()), cpu_before, strict=True)]

        created = {seq: at for seq, _, at in expected}
        latencies, missing, duplicates, out_of_order, run_out_of_order, receive_times = [], 0, 0, 0, 0, []
        for client in clients:
            seqs = [seq for seq, *_ in client.received if seq in expected_seqs]
            missing += len(expected_seqs - set(seqs))
            duplicates += len(seqs) - len(set(seqs))
            # Runs on two instances interleave in any order; one run's own events must keep theirs.
            out_of_order += sum(1 for a, b in itertools.pairwise(seqs) if b < a)
            by_run: dict[str | None, list[int]] = {}
            for seq, _, _, session_id in client.received:
                by_run.setdefault(session_id, []).append(seq)
            run_out_of_order += sum(1 for run_seqs in by_run.values() for a, b in itertools.pairwise(run_seqs) if b < a)
            for seq, _, at, _ in client.received:
                if seq in created:
                    latencies.append((at - created[seq]) * 1000)
                    receive_times.append(at)
        first_receipt: dict[int, float] = {}
        for client in clients:
            for seq, _, at, _ in client.received:
                if seq in created:
                    first_receipt[seq] = min(at, first_receipt.get(seq, at))
        # How long the event took to reach its first client: publication, apart from fan-out.
        first_latencies = [(at - created[seq]) * 1000 for seq, at in first_receipt.items()]
        client_errors = sum(1 for c in clients if c.errors)
        if args.json:
            last_receipt: dict[int, float] = {}
            for client in clients:
                for seq, _, at, _ in client.received:
                    last_receipt[seq] = max(at, last_receipt.get(seq, at))
            timeline = [
                {
                    "seq": seq,
                    "type": kind,
                    "stored": at - started,
                    "first": first_receipt.get(seq, float("nan")) - started,
                    "last": last_receipt.get(seq, float("nan")) - started,
                }
                for seq, kind, at in expected
            ]
            args.json.write_text(
                json.dumps({"runs_started": 0.0, "runs_answered": runs_done - started, "events": timeline}, indent=1)
            )
        failures += missing + duplicates + run_out_of_order + client_errors
        window = (max(receive_times) - started) if receive_times else float("nan")
        published_window = (max(created.values()) - started) if created else float("nan")

    rest = []
    for label, path in (("GET /projects", "/projects"), ("GET /projects/:id", f"/projects/{project_id}")):
        url = urls[0] + path
        cpu_start = cpu_seconds(pids[0])
        measured = (
            rest_wrk(url, args.rest_seconds, args.rest_concurrency)
            if shutil.which("wrk")
            else await rest_httpx(url, args.rest_seconds, args.rest_concurrency)
        )
        measured["cpu_ms"] = (cpu_seconds(pids[0]) - cpu_start) * 1000 / max(1, measured["requests"])
        failures += measured["errors"]
        rest.append((label, measured))

    kinds: dict[str, int] = {}
    for _, kind, _ in expected:
        kinds[kind] = kinds.get(kind, 0) + 1
    rows = [
        ("server", f"2 x {args.server}, PostgreSQL + Redis channel layer, model delay {args.model_delay:g} s"),
        (
            "runs",
            f"{len(results)} concurrent, {len(results) - len(bad_runs)} pending_human_review,"
            f" all answered in {runs_done - started:.2f} s",
        ),
        ("events stored", f"{len(expected)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})"),
        ("events published/s", f"{len(expected) / published_window:.1f}" if expected else "-"),
        ("WebSocket clients", f"{args.clients} ({args.clients - client_errors} without errors)"),
        ("deliveries", f"{len(latencies)} of {len(expected) * args.clients} expected"),
        ("missing / duplicate", f"{missing} / {duplicates}"),
        ("out of seq order: across runs / within a run", f"{out_of_order} / {run_out_of_order}"),
        ("deliveries/s", f"{len(latencies) / window:.0f}" if latencies else "-"),
        ("delivery latency p50", f"{statistics.median(latencies):.1f} ms" if latencies else "-"),
        ("delivery latency p99", f"{percentile(latencies, 0.99):.1f} ms" if latencies else "-"),
        ("delivery latency max", f"{max(latencies):.1f} ms" if latencies else "-"),
        (
            "CPU s: server A / B / this process",
            " / ".join(f"{cpu:.1f}" for cpu in cpu_used)
            + f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        ),
        (
            "first-client latency p50 / p99",
            f"{statistics.median(first_latencies):.1f} / {percentile(first_latencies, 0.99):.1f} ms"
            if first_latencies
            else "-",
        ),
    ]
    for label, m in rest:
        speed = f"{m['rps']:.0f} req/s, p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms, {m['requests']} requests"
        cost = f"{m['errors']} errors, server CPU {m['cpu_ms']:.2f} ms/request"
        rows.append((f"{label} c={args.rest_concurrency} {args.rest_seconds:g}s ({m['tool']})", f"{speed}, {cost}"))
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    for client in clients:
        for error in client.errors[:1]:
            print("client error:", client.url, error)
            break
    return 1 if failures else 0


def main() -> int:
    args = parse_args()
    missing = requirements_missing(args)
    if missing:
        print("bench/events_load.py needs:\n  " + "\n  ".join(missing), file=sys.stderr)
        print("Both can be had locally with scripts/services postgres and scripts/services redis.", file=sys.stderr)
        return 2
    redis.Redis.from_url(args.redis_url, socket_connect_timeout=5).ping()

    name = f"vibegrapher_bench_{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="vibegrapher-events-load-"))
    database_url = with_database(args.database_url, name)
    processes: list[subprocess.Popen] = []

    def hard_stop(signum, frame):
        raise TimeoutError(f"the benchmark passed its {args.timeout:g} s limit")

    signal.signal(signal.SIGALRM, hard_stop)
    signal.alarm(int(args.timeout))
    database_create(args.database_url, name)
    try:
        with ModelDouble(default_delay=args.model_delay) as double:
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("OPENAI_", "VIBEGRAPHER_", "DATABASE_URL", "REDIS_URL", "VIBECODE_"))
            }
            env.update(
                DJANGO_SETTINGS_MODULE="vibegrapher.settings",
                DATABASE_URL=database_url,
                REDIS_URL=args.redis_url,
                MEDIA_PATH=str(workdir / "media"),
                OPENAI_API_KEY="bench",
                OPENAI_BASE_URL=double.base_url,
                VIBECODE_RATE="100000/min",
                PYTHONUNBUFFERED="1",
            )
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                timeout=300,
            )
            started = []
            for label in "AB":
                port = free_port()
                log = workdir / f"server-{label}.log"
                process = subprocess.Popen(
                    server_command(args.server, port, args.ws_per_message_deflate),
                    cwd=ROOT,
                    env=env,
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                )
                processes.append(process)
                started.append((process, f"http://127.0.0.1:{port}", log))
            wait_healthy(started)
            urls = [url for _, url, _ in started]
            print(
                f"servers: {args.server} A {urls[0]}, B {urls[1]}; model double {double.base_url}; logs in {workdir}",
                flush=True,
            )
            return asyncio.run(bench(args, database_url, urls, [process.pid for process, _, _ in started], double))
    finally:
        signal.alarm(0)
        for process in processes:
            stop(process)
        if args.keep:
            print(f"kept: database {name}, media and logs in {workdir}")
        else:
            database_drop(args.database_url, name)
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
