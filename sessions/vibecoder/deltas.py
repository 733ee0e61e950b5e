"""Streamed model output of one agent turn, broadcast as `message_delta` events while it is written.

A turn (one `Runner.run_streamed`) makes one or more model calls, each a step that is stored as a
ConversationMessage once its response is complete. While a step streams, its text, reasoning summary
and tool-call arguments go out as `message_delta` events, coalesced so that a step sends at most one
event per `DELTA_INTERVAL_S`: deltas that arrive meanwhile wait and leave together, one kind per
event. An event's `index` counts the step's events from 0, so a client can tell one was missed.
Everything a step streamed is sent before its `conversation_message` (the hook that stores the step
waits for `completed`), and the deltas of each kind add up to exactly what the model streamed.
"""

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from agents.result import RunResultStreaming
from openai.types.responses import Response, ResponseCompletedEvent, ResponseCreatedEvent

from sessions import events
from sessions.vibecoder.provider import stream_decode_error

DELTA_INTERVAL_S = 0.05

# Responses API stream events whose `delta` is model output, by the `kind` clients see. A refusal is
# text: it is what the model said (and what the step's content shows).
DELTA_KINDS = {
    "response.output_text.delta": "text",
    "response.refusal.delta": "text",
    "response.reasoning_summary_text.delta": "reasoning",
    "response.function_call_arguments.delta": "tool_arguments",
}


@dataclass
class CompletedStep:
    """What the stream knew of a step when its response completed, for the hook that stores it."""

    message_id: uuid.UUID
    response: dict[str, Any]  # the `response.completed` event's response object


@dataclass
class _Step:
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    index: int = 0
    pending: list[tuple[str, list[str]]] = field(default_factory=list)  # (kind, parts), in arrival order
    last_sent: float | None = None
    timer: asyncio.TimerHandle | None = None


class TurnStream:
    """Reads one streamed turn's events: sends its steps' deltas and hands each completed response to
    `completed`, which the step hook awaits before it stores the step."""

    def __init__(
        self,
        *,
        project_id: str,
        session_id: str,
        run_id: str | None,
        agent: str,
        iteration: int | None,
        interval_s: float = DELTA_INTERVAL_S,
    ) -> None:
        self.project_id, self.session_id, self.run_id = project_id, session_id, run_id
        self.agent, self.iteration, self.interval_s = agent, iteration, interval_s
        self._step: _Step | None = None
        self._completed: dict[str, asyncio.Future[CompletedStep]] = {}
        self._loop = asyncio.get_running_loop()

    async def consume(self, result: RunResultStreaming) -> None:
        """Read the turn to its end; raises what the run raised (as `Runner.run` would)."""
        try:
            async for event in result.stream_events():
                if event.type != "raw_response_event":
                    continue
                data = event.data
                kind = DELTA_KINDS.get(data.type)
                if kind is not None:
                    delta = getattr(data, "delta", None)
                    if isinstance(delta, str):
                        self._add(kind, delta)
                elif isinstance(data, ResponseCreatedEvent):
                    self._begin()
                elif isinstance(data, ResponseCompletedEvent):
                    await self._complete(data.response)
        except BaseException as exc:
            result.cancel()  # nothing reads the turn any more: it must not go on alone
            provider_error = stream_decode_error(exc)
            if provider_error is not None:
                raise provider_error from exc
            raise
        finally:
            if self._step is not None and self._step.timer is not None:
                self._step.timer.cancel()
            for future in self._completed.values():
                if not future.done():
                    future.set_exception(RuntimeError("The model stream ended before this step's response."))

    async def completed(self, response_id: str | None) -> CompletedStep:
        """The step whose response has this id, once everything it streamed has been sent."""
        return await self._future(response_id or "")

    def _future(self, response_id: str) -> "asyncio.Future[CompletedStep]":
        future = self._completed.get(response_id)
        if future is None:
            future = self._completed[response_id] = self._loop.create_future()
        return future

    def _begin(self) -> None:
        # A new response: a new step, or a retry of one that failed mid-stream, whose deltas (if any
        # were sent) belong to a message id that no `conversation_message` will have.
        if self._step is not None and self._step.timer is not None:
            self._step.timer.cancel()
        self._step = _Step()

    def _add(self, kind: str, delta: str) -> None:
        if not delta:
            return
        if self._step is None:
            self._begin()
        step = self._step
        assert step is not None
        if step.pending and step.pending[-1][0] == kind:
            step.pending[-1][1].append(delta)
        else:
            step.pending.append((kind, [delta]))
        if step.timer is None:
            step.timer = self._loop.call_later(self._wait_s(step, self.interval_s), self._tick, step)

    def _wait_s(self, step: _Step, at_least: float) -> float:
        if step.last_sent is None:
            return at_least
        return max(at_least, step.last_sent + self.interval_s - self._loop.time())

    def _tick(self, step: _Step) -> None:
        step.timer = None
        self._send_next(step)
        if step.pending:
            step.timer = self._loop.call_later(self._wait_s(step, 0.0), self._tick, step)

    def _send_next(self, step: _Step) -> None:
        kind, parts = step.pending.pop(0)
        events.unstored_event_send(
            project_id=self.project_id,
            event_type=events.MESSAGE_DELTA,
            data=events.message_delta_data(
                session_id=self.session_id,
                run_id=self.run_id,
                message_id=step.message_id,
                agent=self.agent,
                iteration=self.iteration,
                kind=kind,
                delta="".join(parts),
                index=step.index,
            ),
        )
        step.index += 1
        step.last_sent = self._loop.time()

    async def _complete(self, response: Response) -> None:
        step = self._step or _Step()
        self._step = None
        if step.timer is not None:
            step.timer.cancel()
            step.timer = None
        while step.pending:  # the rest, still at most one event per interval
            wait = self._wait_s(step, 0.0)
            if wait > 0:
                await asyncio.sleep(wait)
            self._send_next(step)
        completed = CompletedStep(message_id=step.message_id, response=response.to_dict(mode="json", warnings=False))
        future = self._future(response.id)
        if not future.done():
            future.set_result(completed)
