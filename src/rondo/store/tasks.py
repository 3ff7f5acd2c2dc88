"""Queries on tasks, their steps and live output chunks, and the atomic claim of a queued task."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Update, bindparam, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.status import JobStatus
from rondo.store.models import Agent, OutputChunk, Step, Task


def _claim_statement(skip_locked: bool, by_class: bool) -> Update:
    """The claim: pick, mark and read the task in a single UPDATE ... RETURNING (one round trip).

    The tasks an agent's resource classes fit are the ones it lists (`by_class`), or, when it lists
    none, every class except self-hosted runner classes (`namespace/name`), which need an agent that
    names them. Built once per shape: it runs on every claim.
    """
    fits = (
        Task.resource_class.in_(bindparam("classes", expanding=True))
        if by_class
        else ~Task.resource_class.contains("/")
    )
    oldest = (
        select(Task.id)
        .where(Task.status == JobStatus.QUEUED, Task.executor_type.in_(bindparam("executors", expanding=True)), fits)
        .order_by(Task.queued_at, Task.id)
        .limit(1)
    )
    if skip_locked:
        oldest = oldest.with_for_update(skip_locked=True)
    agent: BindParameter[Any] = bindparam("claimer")
    available = exists().where(Agent.id == agent, Agent.state != "down", Agent.drain.is_(False))
    return (
        update(Task)
        .where(Task.id == oldest.scalar_subquery(), Task.status == JobStatus.QUEUED, available)
        .values(status=JobStatus.RUNNING, agent_id=agent, started_at=bindparam("claimed_at"))
        .returning(Task)
        .execution_options(populate_existing=True)
    )


_CLAIMS = {(skip, by_class): _claim_statement(skip, by_class) for skip in (False, True) for by_class in (False, True)}


async def claim_next(
    session: AsyncSession,
    agent_id: uuid.UUID,
    executors: list[str],
    *,
    skip_locked: bool,
    now: datetime,
    resource_classes: list[str] | None = None,
) -> Task | None:
    """Take the oldest queued task this agent can run, exactly once across agents and replicas, unless
    the agent has meanwhile been drained or declared down.

    PostgreSQL locks the chosen row with SKIP LOCKED so concurrent claimers pass over it; SQLite
    serialises writers with BEGIN IMMEDIATE, and the status guard in the UPDATE keeps it exact.
    """
    claim = _CLAIMS[skip_locked, bool(resource_classes)]
    params = {"executors": executors, "classes": resource_classes or [], "claimer": agent_id, "claimed_at": now}
    if not resource_classes:
        del params["classes"]
    return (await session.execute(claim, params)).scalars().first()


async def task_by_id(session: AsyncSession, task_id: uuid.UUID) -> Task | None:
    return await session.get(Task, task_id)


async def tasks_of_job(session: AsyncSession, job_id: uuid.UUID) -> list[Task]:
    stmt = select(Task).where(Task.job_id == job_id).order_by(Task.node_index)
    return list((await session.execute(stmt)).scalars())


async def running_tasks_of_agent(session: AsyncSession, agent_id: uuid.UUID) -> list[Task]:
    stmt = select(Task).where(Task.agent_id == agent_id, Task.status == JobStatus.RUNNING)
    return list((await session.execute(stmt)).scalars())


async def steps_of(session: AsyncSession, task_id: uuid.UUID) -> list[Step]:
    stmt = select(Step).where(Step.task_id == task_id).order_by(Step.index)
    return list((await session.execute(stmt)).scalars())


async def step_of(session: AsyncSession, task_id: uuid.UUID, index: int) -> Step | None:
    stmt = select(Step).where(Step.task_id == task_id, Step.index == index)
    return (await session.execute(stmt)).scalar_one_or_none()


async def step_by_id(session: AsyncSession, step_id: uuid.UUID) -> Step | None:
    return await session.get(Step, step_id)


async def output_chunks(session: AsyncSession, task_id: uuid.UUID, step_index: int) -> list[OutputChunk]:
    stmt = (
        select(OutputChunk)
        .where(OutputChunk.task_id == task_id, OutputChunk.step_index == step_index)
        .order_by(OutputChunk.id)
    )
    return list((await session.execute(stmt)).scalars())


async def drop_output_chunks(session: AsyncSession, task_id: uuid.UUID, step_index: int) -> None:
    await session.execute(
        delete(OutputChunk).where(OutputChunk.task_id == task_id, OutputChunk.step_index == step_index)
    )
