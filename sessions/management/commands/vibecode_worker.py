"""Execute queued vibecode runs outside the web process (VIBECODE_EXECUTOR=worker)."""

import asyncio
import gc
import logging
import signal

import uvloop
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from sessions import events, runs
from sessions.models import VibecodeRun
from sessions.vibecoder import executor
from sessions.vibecoder.provider import provider_warm_up

logger = logging.getLogger(__name__)

_LISTEN_RETRY_FIRST_S = 1.0
_LISTEN_RETRY_MAX_S = 30.0


def _queued_run_ids(limit: int) -> list[str]:
    return [
        str(pk)
        for pk in VibecodeRun.objects.filter(status=VibecodeRun.Status.QUEUED)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    ]


class Command(BaseCommand):
    help = "Run queued vibecode runs; several workers may run at once (runs are claimed atomically)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--concurrency", type=int, default=settings.WORKER_CONCURRENCY, help="Runs executed at once."
        )
        parser.add_argument("--poll", type=float, default=0.2, help="Seconds between looks for queued runs.")
        parser.add_argument("--once", action="store_true", help="Execute what is queued now, then exit.")

    def handle(self, *args, concurrency: int, poll: float, once: bool, **options):
        provider_warm_up()
        gc.freeze()  # see vibegrapher/asgi.py
        # uvloop, as the web processes run under uvicorn: the stock loop costs a run noticeably more CPU.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(self._serve(concurrency=concurrency, poll=poll, once=once))

    async def _serve(self, *, concurrency: int, poll: float, once: bool) -> None:
        stopping = asyncio.Event()
        wake = asyncio.Event()  # set when told a run is queued, or when stopping
        loop = asyncio.get_running_loop()

        def stop() -> None:
            stopping.set()
            wake.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        listener = asyncio.create_task(_listen_for_queued_runs(wake), name="queued-runs-listener")
        running: set[asyncio.Task] = set()
        logger.info("Vibecode worker %s started (concurrency %d)", executor.INSTANCE, concurrency)
        await sync_to_async(executor.boot_recover)(executes_runs=True)
        next_reap = 0.0
        try:
            while not stopping.is_set():
                wake.clear()
                try:
                    if loop.time() >= next_reap:
                        reaped = await sync_to_async(runs.runs_reap)()
                        if reaped:
                            logger.warning("Marked %d vibecode run(s) interrupted", reaped)
                        next_reap = loop.time() + settings.RUN_HEARTBEAT_S
                    free = concurrency - len(running)
                    queued = await sync_to_async(_queued_run_ids)(free) if free > 0 else []
                except DatabaseError:  # the database is away for a moment: look again at the next poll
                    logger.exception(
                        "Vibecode worker %s cannot reach the database; retrying in %g s", executor.INSTANCE, poll
                    )
                    queued = []
                for run_id in queued:
                    task = asyncio.create_task(executor.run_execute(run_id))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    # A finished run frees a slot: look for queued runs again.
                    task.add_done_callback(lambda _: wake.set())
                if once and not running:
                    break
                try:
                    await asyncio.wait_for(wake.wait(), timeout=poll)
                except TimeoutError:
                    pass
        finally:
            listener.cancel()
        if running:
            logger.info("Waiting for %d run(s) to finish", len(running))
            await asyncio.gather(*running)


async def _listen_for_queued_runs(wake: asyncio.Event) -> None:
    """Wake the worker when a web process says a run is queued, instead of at its next poll. The poll
    stays: a message can be lost (a full channel), and the in-memory layer does not cross processes."""
    layer = get_channel_layer()
    pause = _LISTEN_RETRY_FIRST_S
    while True:
        try:
            channel = await layer.new_channel()
            while True:
                # Joined again now and then: a group membership expires (channels_redis: after a day).
                await layer.group_add(events.RUNS_QUEUED_GROUP, channel)
                pause = _LISTEN_RETRY_FIRST_S
                try:
                    await asyncio.wait_for(layer.receive(channel), timeout=settings.RUN_HEARTBEAT_S)
                except TimeoutError:
                    continue
                wake.set()
        except Exception:  # Redis away (the layer's connection errors have no common base): the poll carries on
            logger.exception(
                "The channel layer failed; the worker polls for queued runs and listens again in %g s", pause
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LISTEN_RETRY_MAX_S)
