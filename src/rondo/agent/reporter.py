"""Batches a task's events and sends them in order, each batch with the next sequence number.

Output is flushed every half second or at 64 KB, and at once when a step or the task ends. The task's
secret values are masked in output before it leaves the agent (`rondo.domain.output_masking`).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from datetime import UTC, datetime
from typing import Protocol

from rondo.domain.agent_protocol import (
    EventBatch,
    EventBatchResult,
    StepFinished,
    StepOutput,
    StepStarted,
    TaskEvent,
    TaskFinished,
)
from rondo.domain.output_masking import OutputMasker, mask_text
from rondo.domain.status import JobStatus, StepStatus

FLUSH_INTERVAL_S = 0.5
FLUSH_BYTES = 64 * 1024


class EventSink(Protocol):
    async def send_events(self, task_id: str, batch: EventBatch) -> EventBatchResult: ...


def _now() -> datetime:
    return datetime.now(UTC)


class EventReporter:
    def __init__(
        self, sink: EventSink, task_id: str, agent_id: str, cancel: asyncio.Event, secrets: list[str] | None = None
    ) -> None:
        self._sink = sink
        self._secrets = list(secrets or [])
        self._maskers: dict[int, OutputMasker] = {}
        self._task_id = task_id
        self._agent_id = agent_id
        self._cancel = cancel
        self._events: list[TaskEvent] = []
        self._buffered = 0
        self._seq = 0
        self._send_lock = asyncio.Lock()
        self._decoders: dict[int, codecs.IncrementalDecoder] = {}
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventReporter:
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.flush()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await self.flush()

    def step_started(self, step: int, name: str) -> None:
        self._decoders[step] = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._events.append(StepStarted(step=step, name=name, at=_now()))

    def output(self, step: int, data: bytes) -> None:
        decoder = self._decoders.setdefault(step, codecs.getincrementaldecoder("utf-8")(errors="replace"))
        self._add_text(step, self._masker(step).feed(decoder.decode(data)))
        if self._buffered >= FLUSH_BYTES:
            asyncio.get_running_loop().create_task(self.flush())

    def _masker(self, step: int) -> OutputMasker:
        masker = self._maskers.get(step)
        if masker is None:
            masker = self._maskers[step] = OutputMasker(self._secrets)
        return masker

    def _add_text(self, step: int, text: str) -> None:
        if not text:
            return
        last = self._events[-1] if self._events else None
        if isinstance(last, StepOutput) and last.step == step:
            self._events[-1] = StepOutput(step=step, data=last.data + text, at=last.at)
        else:
            self._events.append(StepOutput(step=step, data=text, at=_now()))
        self._buffered += len(text)

    async def step_finished(self, step: int, status: StepStatus, exit_code: int | None) -> None:
        decoder = self._decoders.pop(step, None)
        masker = self._maskers.pop(step, None) or OutputMasker(self._secrets)
        tail = decoder.decode(b"", final=True) if decoder is not None else ""
        self._add_text(step, masker.feed(tail) + masker.finish())
        self._events.append(StepFinished(step=step, status=status, exit_code=exit_code, at=_now()))
        await self.flush()

    async def task_finished(self, status: JobStatus, message: str | None = None) -> None:
        if message and self._secrets:
            message = mask_text(message, self._secrets)
        self._events.append(TaskFinished(status=status, message=message, at=_now()))
        await self.flush()

    async def flush(self) -> None:
        """Send what is buffered as one batch; batches go out one at a time, in order."""
        async with self._send_lock:
            if not self._events:
                return
            events, self._events, self._buffered = self._events, [], 0
            self._seq += 1
            batch = EventBatch(agent_id=self._agent_id, seq=self._seq, events=events)
            result = await self._sink.send_events(self._task_id, batch)
            if result.cancel:
                self._cancel.set()
