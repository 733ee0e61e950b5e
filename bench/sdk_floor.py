"""The CPU that the Agents SDK and the openai client alone spend on one vibecode run's model calls.

    .venv/bin/python bench/sdk_floor.py [--runs 60] [--stream]

Runs the service's own vibecoder (a `submit_patch` call that applies) and evaluator (an approval)
with `Runner.run`, as one run does, against the model double in another process, without Django's
database, events or HTTP server, on uvloop as production serves. Prints this process's CPU time per
run, with and without the two `SQLiteSession` memories (kept open, as the service keeps them). It is
the floor under `vibecode_bench.py`'s (a), and what sets its (b): N concurrent runs need at least N
times this much CPU while they wait for the model. `--stream` makes the calls as the service does
(`Runner.run_streamed`, every event read), instead of `Runner.run`, with the stock openai client and
with the service's (`StreamingClient`, which reads each stream event as the class its type names).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vibegrapher.settings")

import django  # noqa: E402

django.setup()

from agents import RunConfig, Runner, set_tracing_disabled  # noqa: E402
from agents.models.openai_provider import OpenAIProvider  # noqa: E402
from machine_speed import speed_line  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from projects.starter_code import TRIAGE_WORKFLOW  # noqa: E402
from sessions.vibecoder import prompts  # noqa: E402
from sessions.vibecoder.agent_definitions import VibecodeContext, _evaluator, _vibecoder  # noqa: E402
from sessions.vibecoder.memory import memory_open  # noqa: E402
from sessions.vibecoder.provider import StreamingClient  # noqa: E402
from tests.processes import free_port  # noqa: E402


async def _run(*args, stream: bool, **kwargs):
    if not stream:
        return await Runner.run(*args, **kwargs)
    result = Runner.run_streamed(*args, **kwargs)
    async for _ in result.stream_events():
        pass
    return result


async def one_run(config: RunConfig, memories: tuple | None, stream: bool) -> None:
    context = VibecodeContext(code=TRIAGE_WORKFLOW)
    request = prompts.vibecoder_request(prompt="add a comment", code=TRIAGE_WORKFLOW, node_id=None)
    await _run(
        _vibecoder("gpt-5", "medium"),
        request,
        context=context,
        session=memories[0] if memories else None,
        run_config=config,
        stream=stream,
    )
    if context.proposal is None:
        raise RuntimeError(f"The vibecoder's patch did not apply: {context.patch_errors}")
    result = await _run(
        _evaluator("gpt-5", "medium"),
        prompts.evaluator_request(prompt="add a comment", diff="(diff)", new_code=context.proposal),
        session=memories[1] if memories else None,
        run_config=config,
        stream=stream,
    )
    if not result.final_output.approved:
        raise RuntimeError("The evaluator did not approve.")


async def measure(config: RunConfig, runs: int, with_memory: bool, folder: Path, stream: bool) -> tuple[float, float]:
    def memories(index: int) -> tuple | None:
        if not with_memory:
            return None
        path = folder / f"conversations-{index}.db"
        return memory_open(db_path=path, key="project_p"), memory_open(db_path=path, key="project_p_evaluator")

    opened = [memories(index) for index in range(runs + 3)]  # opened beforehand, as the service keeps them
    for index in range(3):
        await one_run(config, opened[index], stream)
    walls = []
    cpu_before = time.process_time()
    for index in range(3, runs + 3):
        started = time.perf_counter()
        await one_run(config, opened[index], stream)
        walls.append((time.perf_counter() - started) * 1000)
    return statistics.median(walls), (time.process_time() - cpu_before) / runs * 1000


def _wait_for(process: subprocess.Popen, url: str, log: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The model double exited during start: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"The model double did not answer {url} within {timeout_s:g} s.")


async def main(runs: int, stream: bool) -> None:
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="sdk-floor-"))
    log = folder / "double.log"
    double = subprocess.Popen(
        [sys.executable, "-m", "model_double", "--port", str(port)],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(double, f"http://127.0.0.1:{port}/healthz", log)
        set_tracing_disabled(True)
        print(speed_line())
        for client_class in (AsyncOpenAI, StreamingClient) if stream else (AsyncOpenAI,):
            client = client_class(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", max_retries=0)
            config = RunConfig(model_provider=OpenAIProvider(openai_client=client), tracing_disabled=True)
            for with_memory in (False, True):
                wall, cpu = await measure(config, runs, with_memory, folder, stream)
                memory = "with both SQLiteSession memories" if with_memory else "without memory"
                calls = f"streamed, {client_class.__name__}" if stream else "not streamed"
                print(
                    f"SDK + openai client ({calls}), {memory}: {cpu:.1f} ms CPU per run (2 model calls), "
                    f"median wall {wall:.1f} ms"
                )
    finally:
        double.terminate()
        double.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--stream", action="store_true", help="Runner.run_streamed, as the service calls the model")
    arguments = parser.parse_args()
    uvloop.run(main(arguments.runs, arguments.stream))
