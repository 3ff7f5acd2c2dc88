"""Agents as the engine sees them: registration, claiming tasks, heartbeats, events, lost agents."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.agent_protocol import (
    EventBatch,
    EventBatchResult,
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterRequest,
    StepFinished,
    StepOutput,
    StepStarted,
    TaskFinished,
    TaskSpec,
)
from rondo.domain.status import JobStatus, StepStatus
from rondo.domain.waiting import wait_event
from rondo.engine import job_secrets
from rondo.engine.conductor import Conductor, SettleResult
from rondo.engine.output import OutputService
from rondo.engine.wakeup import Wakeup
from rondo.ops.audit import SERVER_SCOPE, Origin, Ref, record
from rondo.secrets.envelope import SecretBox, SecretsError
from rondo.store import agents as agent_q
from rondo.store import tasks as task_q
from rondo.store.db import Database
from rondo.store.models import Agent, OutputChunk, Step, Task
from rondo.store.types import utcnow

log = logging.getLogger(__name__)


@dataclass
class LostWork:
    """What losing agents did to their running tasks."""

    requeued: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    open_steps: list[tuple[uuid.UUID, int]] = field(default_factory=list)  # steps cut short, to compact
    queued_tasks: int = 0


class UnknownAgent(Exception):
    """The agent id is not registered (the server forgot it, or it was swept as lost): register again."""


class NotYourTask(Exception):
    """The task does not exist or belongs to another agent."""


class AgentService:
    def __init__(
        self,
        db: Database,
        conductor: Conductor,
        output: OutputService,
        wakeup: Wakeup,
        *,
        heartbeat_interval_s: float,
        lost_after_s: float,
        control: Wakeup | None = None,
        box: SecretBox | None = None,
    ) -> None:
        self._box = box  # opens the sealed project and context variables of a claimed task
        self._db = db
        self._conductor = conductor
        self._output = output
        self._wakeup = wakeup
        self.heartbeat_interval_s = heartbeat_interval_s
        self._control = control or Wakeup()  # cancels and drains wake heartbeat long-polls
        self._lost_after = timedelta(seconds=lost_after_s)

    async def overview(self) -> list[tuple[Agent, list[Task]]]:
        """Every agent with its running tasks: what `rondo agent list` shows (Nomad's node-status)."""
        async with self._db.session() as session:
            agents = await agent_q.all_agents(session)
            return [(a, await task_q.running_tasks_of_agent(session, a.id)) for a in agents]

    async def set_drain(self, ident: str, drain: bool, origin: Origin | None = None) -> Agent:
        """Drain an agent (by id or name): it finishes what runs and claims nothing new. Audited (agent.drain)."""
        async with self._db.session() as session:
            matches = [a for a in await agent_q.all_agents(session) if str(a.id) == ident or a.name == ident]
            live = [a for a in matches if a.state != "down"] or matches
            if not live:
                raise UnknownAgent(f"no agent is called {ident}")
            if len(live) > 1:
                raise UnknownAgent(f"{len(live)} agents are called {ident}; use the agent's id")
            live[0].drain = drain
            agent = live[0]
            if origin is not None:
                target = Ref(str(agent.id), "agent", agent.name)
                record(session, "agent.drain", origin, target, SERVER_SCOPE, {"drain": drain})
        self._control.notify()
        if not drain:
            self._wakeup.notify()  # its waiting claim looks again at once
        return agent

    async def register(self, token_id: uuid.UUID, req: RegisterRequest) -> Agent:
        async with self._db.session() as session:
            agent = Agent(
                name=req.name,
                token_id=token_id,
                resource_classes=req.resource_classes,
                executors=list(req.executors),
                capacity=req.capacity.model_dump(),
                version=req.version,
            )
            session.add(agent)
        log.info("agent %s registered as %s (%s)", req.name, agent.id, ", ".join(req.executors))
        return agent

    async def claim(self, agent_id: uuid.UUID, free_slots: int, wait_s: float) -> TaskSpec | None:
        """Hand out the oldest task the agent can run; wait up to `wait_s` for one to be queued."""
        deadline = time.monotonic() + wait_s
        seen: tuple[list[str], list[str]] | None = None  # its executors and classes, once marked seen
        while True:
            waiter = self._wakeup.waiter()
            claimed: tuple[Task, list[dict[str, str]]] | None = None
            async with self._db.session() as session:
                available = True
                if seen is None:
                    agent = await agent_q.touch_live(session, agent_id)
                    if agent is None:
                        raise UnknownAgent(f"agent {agent_id} is not registered")
                    seen = list(agent.executors), list(agent.resource_classes or [])
                    available = not agent.drain
                if free_slots > 0 and available:
                    # Woken again in the same poll: the claim itself checks the agent is still up and undrained.
                    task = await task_q.claim_next(
                        session,
                        agent_id,
                        seen[0],
                        skip_locked=not self._db.is_sqlite,
                        now=utcnow(),
                        resource_classes=seen[1],
                    )
                    if task is not None:
                        await self._conductor.task_started(session, task)
                        claimed = (task, await job_secrets.sealed_for_task(session, task.id))
            if claimed is not None:
                spec = await self._open_secrets(*claimed)
                if spec is not None:
                    return spec
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._wakeup.closed:
                return None
            if not await wait_event(waiter, remaining):
                return None

    async def _open_secrets(self, task: Task, sealed: list[dict[str, str]]) -> TaskSpec | None:
        """The claimed task's spec with its variables and SSH keys opened (outside the claim's transaction:
        Vault is I/O).

        A task whose variables cannot be opened (a missing master key, Vault down) fails at once as
        infrastructure_fail with the reason, rather than running without them.
        """
        spec = TaskSpec.model_validate(task.spec)
        if not sealed:
            return spec
        try:
            if self._box is None:
                raise SecretsError("this server has no keyring to open them")
            return await job_secrets.open_into(self._box, spec, sealed)
        except SecretsError as exc:
            log.error("task %s: cannot open its project and context variables: %s", task.id, exc)
            async with self._db.session() as session:
                row = await task_q.task_by_id(session, task.id)
                assert row is not None
                settled = await self._conductor.task_finished(
                    session,
                    row,
                    JobStatus.INFRASTRUCTURE_FAIL,
                    f"cannot open the job's environment variables and SSH keys: {exc}",
                )
            if settled.queued_tasks:
                self._wakeup.notify()
            return None

    async def heartbeat(self, req: HeartbeatRequest) -> HeartbeatResponse:
        """The agent is alive; answer with cancels and drain, waiting up to `wait_s` for one to happen."""
        agent_id = uuid.UUID(req.agent_id)
        deadline = time.monotonic() + min(req.wait_s, self.heartbeat_interval_s)
        touched = False
        while True:
            waiter = self._control.waiter()
            async with self._db.session() as session:
                agent = await agent_q.agent_by_id(session, agent_id)
                if agent is None or agent.state == "down":
                    raise UnknownAgent(f"agent {agent_id} is not registered")
                if not touched:
                    await agent_q.touch(session, agent_id)
                    touched = True
                running = await task_q.running_tasks_of_agent(session, agent_id)
                cancel = [str(t.id) for t in running if t.cancel_requested]
                drain = agent.drain
            remaining = deadline - time.monotonic()
            if cancel or drain != req.drain_seen or remaining <= 0 or self._control.closed:
                return HeartbeatResponse(cancel=cancel, drain=drain)
            await wait_event(waiter, remaining)

    async def apply_events(self, task_id: uuid.UUID, batch: EventBatch) -> EventBatchResult:
        """Apply one batch of an agent's events, once: a batch at or below the last applied seq is skipped."""
        finished_steps: list[int] = []
        settled = SettleResult()
        async with self._db.session() as session:
            task = await task_q.task_by_id(session, task_id)
            if task is None or task.agent_id is None or str(task.agent_id) != batch.agent_id:
                raise NotYourTask(f"task {task_id} is not assigned to agent {batch.agent_id}")
            await agent_q.touch(session, task.agent_id)
            if batch.seq <= task.last_event_seq or task.status != JobStatus.RUNNING:
                return EventBatchResult(applied=False, cancel=task.cancel_requested)
            steps = {s.index: s for s in await task_q.steps_of(session, task.id)}
            for event in batch.events:
                if isinstance(event, StepStarted):
                    if event.step not in steps:
                        steps[event.step] = Step(
                            task_id=task.id,
                            index=event.step,
                            name=event.name,
                            status=StepStatus.RUNNING,
                            started_at=event.at,
                            output_bytes=0,
                        )
                        session.add(steps[event.step])
                elif isinstance(event, StepOutput):
                    session.add(OutputChunk(task_id=task.id, step_index=event.step, data=event.data, at=event.at))
                    if event.step in steps:
                        steps[event.step].output_bytes += len(event.data.encode())
                elif isinstance(event, StepFinished):
                    step = steps.get(event.step)
                    if step is not None:
                        step.status = event.status
                        step.exit_code = event.exit_code
                        step.stopped_at = event.at
                        finished_steps.append(event.step)
                elif isinstance(event, TaskFinished):
                    settled = await self._conductor.task_finished(session, task, event.status, event.message)
            task.last_event_seq = batch.seq
            cancel = task.cancel_requested
        for index in finished_steps:
            await self._output.compact(task_id, index)
        if settled.queued_tasks:
            self._wakeup.notify()
        return EventBatchResult(applied=True, cancel=cancel)

    async def sweep_lost(self) -> int:
        """Fail the running tasks of agents that stopped heart-beating; return how many agents were lost."""
        lost = LostWork()
        async with self._db.session() as session:
            agents = await agent_q.silent_since(session, utcnow() - self._lost_after)
            for agent in agents:
                msg = f"agent {agent.name} stopped reporting for {self._lost_after.total_seconds():.0f}s"
                await self._lose_agent(session, agent, msg, lost)
                log.warning("agent %s (%s) is down: no heartbeat", agent.name, agent.id)
        await self._after_loss(lost)
        return len(agents)

    async def recover_after_restore(self, backup_taken_at: str) -> LostWork:
        """After `rondo restore`: the backed-up installation's agents are gone, and so is what they ran.

        Every agent that was up at backup time is marked down, and its running tasks go the way of a lost
        agent's: requeued if nothing ran yet, else `infrastructure_fail` saying the installation was
        restored, so no job of the backup shows Running forever.
        """
        lost = LostWork()
        msg = f"the installation was restored from a backup taken at {backup_taken_at}, while this task was running"
        async with self._db.session() as session:
            for agent in await agent_q.all_agents(session):
                if agent.state != "down":
                    await self._lose_agent(session, agent, msg, lost)
        await self._after_loss(lost)
        return lost

    async def _lose_agent(self, session: AsyncSession, agent: Agent, msg: str, lost: LostWork) -> None:
        agent.state = "down"
        for task in await task_q.running_tasks_of_agent(session, agent.id):
            steps = await task_q.steps_of(session, task.id)
            if task.retries == 0 and not steps:
                # Nothing ran yet: give it once more to another agent, as CircleCI retries.
                await self._conductor.requeue_task(session, task, msg)
                lost.requeued.append(task.id)
                lost.queued_tasks += 1
                continue
            for step in steps:  # its output stops here; the step must not look running forever
                if step.status == StepStatus.RUNNING:
                    step.status = StepStatus.INFRASTRUCTURE_FAIL
                    step.stopped_at = utcnow()
                    lost.open_steps.append((task.id, step.index))
            result = await self._conductor.task_finished(session, task, JobStatus.INFRASTRUCTURE_FAIL, msg)
            lost.failed.append(task.id)
            lost.queued_tasks += result.queued_tasks

    async def _after_loss(self, lost: LostWork) -> None:
        for task_id, index in lost.open_steps:
            try:
                await self._output.compact(task_id, index)
            except Exception:  # the output stays readable from its chunks; the next sweep does not retry it
                log.exception("compacting the output of task %s step %s failed", task_id, index)
        if lost.queued_tasks:
            self._wakeup.notify()

    async def run_sweeper(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self._lost_after.total_seconds() / 4))
            try:
                await self.sweep_lost()
            except Exception:
                log.exception("sweeping lost agents failed")
