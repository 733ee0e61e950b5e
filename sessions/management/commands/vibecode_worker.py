"""Execute queued vibecode runs outside the web process (VIBECODE_EXECUTOR=worker)."""

import asyncio
import gc
import logging
import signal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand

from sessions.models import VibecodeRun
from sessions.vibecoder import executor
from sessions.vibecoder.provider import provider_warm_up

logger = logging.getLogger(__name__)


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
        asyncio.run(self._serve(concurrency=concurrency, poll=poll, once=once))

    async def _serve(self, *, concurrency: int, poll: float, once: bool) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        running: set[asyncio.Task] = set()
        logger.info("Vibecode worker %s started (concurrency %d)", executor.INSTANCE, concurrency)
        next_reap = 0.0
        while not stopping.is_set():
            if loop.time() >= next_reap:
                reaped = await sync_to_async(executor.runs_reap)()
                if reaped:
                    logger.warning("Marked %d vibecode run(s) interrupted", reaped)
                next_reap = loop.time() + settings.RUN_HEARTBEAT_S
            free = concurrency - len(running)
            if free > 0:
                for run_id in await sync_to_async(_queued_run_ids)(free):
                    task = asyncio.create_task(executor.run_execute(run_id))
                    running.add(task)
                    task.add_done_callback(running.discard)
            if once and not running:
                break
            try:
                await asyncio.wait_for(stopping.wait(), timeout=poll)
            except TimeoutError:
                pass
        if running:
            logger.info("Waiting for %d run(s) to finish", len(running))
            await asyncio.gather(*running)
