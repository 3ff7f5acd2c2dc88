"""The agent's life: register, claim tasks while it has free slots, heartbeat, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rondo import __version__
from rondo.agent.client import AgentClient, AgentConflict, AgentError
from rondo.agent.executors.base import Executor
from rondo.agent.executors.machine import MachineExecutor
from rondo.agent.reporter import EventReporter
from rondo.agent.runner import run_task
from rondo.agent.steps.storage import StorageSteps
from rondo.agent.transfer import Transfers
from rondo.domain.agent_protocol import Capacity, ClaimRequest, HeartbeatRequest, RegisterRequest, TaskSpec
from rondo.domain.resource_classes import fitting
from rondo.domain.status import JobStatus

log = logging.getLogger(__name__)


@dataclass
class AgentConfig:
    server_url: str
    token: str
    work_dir: Path
    name: str = field(default_factory=socket.gethostname)
    tasks: int = 2
    resource_classes: list[str] = field(default_factory=list)
    claim_wait_s: float = 30.0
    parent_pid: int | None = None  # the built-in agent stops, canceling its jobs, when its server is gone


def machine_size() -> tuple[float, int]:
    """This machine's CPUs and memory (MB)."""
    cpus = float(os.cpu_count() or 1)
    try:
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        memory_mb = 1024
    return cpus, max(int(memory_mb), 1)


class AgentLoop:
    def __init__(self, config: AgentConfig, executors: dict[str, Executor] | None = None) -> None:
        self._config = config
        self._executors = executors or {"machine": MachineExecutor(config.work_dir)}
        self._client = AgentClient(config.server_url, config.token)
        self._transfers = Transfers()  # presigned object storage URLs: no agent token goes there
        self._agent_id = ""
        self._heartbeat_s = 10.0
        self._running: dict[str, asyncio.Event] = {}  # task id -> its cancel event
        self._slot_freed = asyncio.Event()
        self._drain = asyncio.Event()
        self._drained_by_server = False

    @property
    def agent_id(self) -> str:
        return self._agent_id

    def request_drain(self) -> None:
        """Finish what runs, claim nothing new, then return from `run()`."""
        if not self._drain.is_set():
            log.info("agent %s: draining (%d tasks running)", self._config.name, len(self._running))
        self._drain.set()

    async def _register(self) -> None:
        cpus, memory_mb = machine_size()
        # Without explicit classes, offer every sized class this machine can hold (CircleCI's sizes).
        classes = self._config.resource_classes or fitting(cpus, memory_mb)
        response = await self._client.register(
            RegisterRequest(
                name=self._config.name,
                resource_classes=classes,
                executors=[e for e in ("machine", "docker") if e in self._executors],
                capacity=Capacity(tasks=self._config.tasks, cpus=cpus, memory_mb=memory_mb),
                version=__version__,
            )
        )
        self._agent_id, self._heartbeat_s = response.agent_id, response.heartbeat_interval_s
        log.info("agent %s registered as %s", self._config.name, self._agent_id)

    async def run(self) -> None:
        for executor in self._executors.values():
            await executor.start()
        await self._register()
        heartbeat = asyncio.create_task(self._heartbeats())
        watcher = asyncio.create_task(self._watch_parent()) if self._config.parent_pid else None
        workers: set[asyncio.Task[None]] = set()
        try:
            while not self._drain.is_set():
                free = self._config.tasks - len(self._running)
                if free <= 0:
                    self._slot_freed.clear()
                    await _first(self._slot_freed.wait(), self._drain.wait())
                    continue
                spec = await self._claim(free)
                if spec is not None:
                    worker = asyncio.create_task(self._run_one(spec))
                    workers.add(worker)
                    worker.add_done_callback(workers.discard)
            if workers:
                await asyncio.gather(*workers, return_exceptions=True)
        finally:
            for background in (heartbeat, watcher):
                if background is not None:
                    background.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await background
            await self._client.close()
            await self._transfers.close()
            for executor in self._executors.values():
                await executor.close()

    async def _claim(self, free: int) -> TaskSpec | None:
        request = ClaimRequest(agent_id=self._agent_id, free_slots=free, wait_s=self._config.claim_wait_s)
        claim = asyncio.ensure_future(self._client.claim(request))
        drain = asyncio.ensure_future(self._drain.wait())
        try:
            done, _ = await asyncio.wait({claim, drain}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drain.cancel()
        if claim not in done:
            claim.cancel()
            return None
        try:
            return claim.result()
        except AgentConflict:
            await self._register()
        except AgentError as exc:
            log.error("agent: claim refused: %s", exc)
            await asyncio.sleep(5)
        return None

    async def _run_one(self, spec: TaskSpec) -> None:
        cancel = asyncio.Event()
        self._running[spec.id] = cancel
        log.info("agent: running %s #%d (%s, task %s)", spec.job_name, spec.job_number, spec.project_slug, spec.id)
        try:
            executor = self._executors.get(spec.executor.type)
            async with EventReporter(
                self._client, spec.id, self._agent_id, cancel, secrets=spec.secret_values
            ) as reporter:
                if executor is None:
                    message = f"this agent has no {spec.executor.type} executor"
                    await reporter.task_finished(JobStatus.INFRASTRUCTURE_FAIL, message)
                else:
                    scratch = self._config.work_dir / "scratch" / spec.id
                    storage = StorageSteps(self._client, self._transfers, spec, self._agent_id, scratch)
                    try:
                        status = await run_task(spec, executor, reporter, cancel, storage)
                    finally:
                        await asyncio.to_thread(shutil.rmtree, scratch, True)
                    log.info("agent: %s #%d finished: %s", spec.job_name, spec.job_number, status)
        except AgentError as exc:
            log.error("agent: the server refused events of task %s: %s", spec.id, exc)
        except Exception:
            log.exception("agent: task %s crashed", spec.id)
        finally:
            del self._running[spec.id]
            self._slot_freed.set()

    async def _watch_parent(self) -> None:
        # No event announces a parent's death to a child; once a second is cheap and soon enough.
        while True:
            await asyncio.sleep(1.0)
            if os.getppid() != self._config.parent_pid:
                break
        log.warning("agent %s: the server process is gone; canceling %d tasks", self._config.name, len(self._running))
        self._client.give_up()  # a dead server never answers: reports fail fast instead of retrying forever
        for cancel in self._running.values():
            cancel.set()
        self.request_drain()

    async def _heartbeats(self) -> None:
        # Each heartbeat is a long poll: it returns at once when one of our tasks is canceled, so
        # a cancel reaches a running step within a moment; otherwise after one heartbeat interval.
        while True:
            try:
                response = await self._client.heartbeat(
                    HeartbeatRequest(
                        agent_id=self._agent_id,
                        running=list(self._running),
                        wait_s=self._heartbeat_s,
                        drain_seen=self._drained_by_server,
                    )
                )
            except AgentConflict:
                await self._register()
                continue
            except AgentError as exc:
                log.error("agent: heartbeat refused: %s", exc)
                await asyncio.sleep(self._heartbeat_s)
                continue
            for task_id in response.cancel:
                if task_id in self._running:
                    self._running[task_id].set()
            if response.drain != self._drained_by_server:
                # An operator's drain: claim nothing new (the server refuses), but stay up for an undo.
                self._drained_by_server = response.drain
                log.info("agent %s: %s by the server", self._config.name, "drained" if response.drain else "undrained")


async def _first(*aws: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


def install_signal_handlers(loop_: AgentLoop, on_signal: Callable[[], None] | None = None) -> None:
    """SIGTERM / SIGINT drain the agent: running jobs finish, nothing new is claimed."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal or loop_.request_drain)
