"""Playground benchmark: what running the workflow in the sandbox, its model calls relayed, costs.

    .venv/bin/python bench/playground_bench.py [--server uvicorn|daphne] [--runs 10] [--calls 10]

Starts a fresh SQLite database and media folder, the model double (in this process, answering
instantly) and one server process, imports a workflow whose agent has one function tool, then
measures over real HTTP, each figure the median of `--runs`:

(a) one playground run of two model calls (the tool once, then an answer): the fixed cost of a run
    (sandbox start, the SDK's import inside it, its first tool call, the relay);
(b) one playground run of `--calls` model calls (the tool called `--calls - 1` times, then an
    answer); (b - a) / (calls - 2) is the wall time each further model call adds, relay included
    (both runs pay the one-time costs of a first tool call, so they cancel out);
(c) the same two runs made by the SDK in this process straight to the double, no sandbox, no relay,
    for reference (this process also serves the double, so its calls contend with it).

With an instant model, the per-call figure of (b) bounds the playground's overhead per model call.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model_double import ModelDouble  # noqa: E402
from model_double.script import function_call, text  # noqa: E402
from tests.processes import free_port  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from vibecode_bench import start_server  # noqa: E402

WORKFLOW = '''from agents import Agent, function_tool


@function_tool
def ping() -> str:
    """Answer pong."""
    return "pong"


assistant_agent = Agent(
    name="Assistant",
    instructions="Call ping when asked, then answer.",
    tools=[ping],
)
'''


def script(double: ModelDouble, calls: int) -> None:
    double.script(*[function_call("ping", {}, usage=(10, 2)) for _ in range(calls - 1)], text("done", usage=(10, 2)))


async def playground_ms(client: httpx.AsyncClient, double: ModelDouble, project_id: str, calls: int) -> float:
    script(double, calls)
    started = time.perf_counter()
    response = await client.post(f"/projects/{project_id}/playground", json={"input": "ping"})
    elapsed = (time.perf_counter() - started) * 1000
    body = response.json()
    if response.status_code != 200 or body.get("status") != "completed":
        raise RuntimeError(f"playground run failed: {response.status_code} {body}")
    if body["token_usage"]["model_calls"] != calls:
        raise RuntimeError(f"expected {calls} model calls, the run made {body['token_usage']}")
    return elapsed


async def direct_ms(double: ModelDouble, calls: int) -> float:
    """The same agent and calls through the SDK in this process, straight to the double."""
    from agents import Agent, RunConfig, Runner, function_tool, set_tracing_disabled
    from agents.models.openai_provider import OpenAIProvider
    from openai import AsyncOpenAI

    set_tracing_disabled(True)

    @function_tool
    def ping() -> str:
        """Answer pong."""
        return "pong"

    agent = Agent(name="Assistant", instructions="Call ping when asked, then answer.", tools=[ping])
    provider = OpenAIProvider(openai_client=AsyncOpenAI(base_url=double.base_url, api_key="bench", max_retries=0))
    script(double, calls)
    started = time.perf_counter()
    run = Runner.run_streamed(agent, "ping", run_config=RunConfig(model_provider=provider), max_turns=calls + 2)
    async for _ in run.stream_events():
        pass
    elapsed = (time.perf_counter() - started) * 1000
    if run.final_output != "done":
        raise RuntimeError(f"direct run ended with {run.final_output!r}")
    return elapsed


async def main(args: argparse.Namespace) -> None:
    double = ModelDouble().start()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="vg-playground-bench-") as tmp:
        workdir = Path(tmp)
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "MEDIA_PATH": str(workdir / "media"),
            "OPENAI_API_KEY": "bench",
            "OPENAI_BASE_URL": double.base_url,
            "OPENAI_MAX_RETRIES": "0",
            "DEBUG": "0",
        }
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        server = start_server(args.server, env, port, workdir / "server.log", None)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                for _ in range(600):
                    try:
                        if (await client.get("/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.1)
                project = (await client.post("/projects", json={"name": "bench", "code": WORKFLOW})).json()
                await playground_ms(client, double, project["id"], 2)  # warm up
                await direct_ms(double, args.calls)
                one, many, direct_one, direct_many = [], [], [], []
                for _ in range(args.runs):
                    one.append(await playground_ms(client, double, project["id"], 2))
                    many.append(await playground_ms(client, double, project["id"], args.calls))
                    direct_one.append(await direct_ms(double, 2))
                    direct_many.append(await direct_ms(double, args.calls))
        finally:
            server.terminate()
            server.wait(timeout=10)
            double.stop()
    a, b = statistics.median(one), statistics.median(many)
    c1, c2 = statistics.median(direct_one), statistics.median(direct_many)
    per_call, direct_per_call = (b - a) / (args.calls - 2), (c2 - c1) / (args.calls - 2)
    print(f"server: {args.server}, {args.runs} runs each, the model double answering instantly")
    print(f"(a) playground run, 2 model calls: median {a:.0f} ms")
    print(f"(b) playground run, {args.calls} model calls: median {b:.0f} ms -> {per_call:.1f} ms per further call")
    print(
        f"(c) the SDK in process, no sandbox or relay: 2 calls {c1:.0f} ms, {args.calls} calls {c2:.0f} ms "
        f"-> {direct_per_call:.1f} ms per further call"
    )
    print(
        f"each further relayed model call: {per_call:.1f} ms end to end, an upper bound on the playground's "
        "overhead per call (the model answers instantly)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--calls", type=int, default=10)
    arguments = parser.parse_args()
    if arguments.calls < 3:
        parser.error("--calls must be at least 3")
    asyncio.run(main(arguments))
