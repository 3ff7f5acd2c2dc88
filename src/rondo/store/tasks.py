"""Queries on tasks, their steps and live output chunks, and the atomic claim of a queued task."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.status import JobStatus
from rondo.store.models import Agent, OutputChunk, Step, Task


def resource_class_filter(resource_classes: list[str]) -> ColumnElement[bool]:
    """Tasks an agent's resource classes fit: the ones it lists, or, when it lists none, every class
    except self-hosted runner classes (`namespace/name`), which need an agent that names them."""
    if resource_classes:
        return Task.resource_class.in_(resource_classes)
    return ~Task.resource_class.contains("/")


def _available(agent_id: uuid.UUID) -> ColumnElement[bool]:
    return exists().where(Agent.id == agent_id, Agent.state != "down", Agent.drain.is_(False))


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
    oldest = (
        select(Task.id)
        .where(
            Task.status == JobStatus.QUEUED,
            Task.executor_type.in_(executors),
            resource_class_filter(resource_classes or []),
        )
        .order_by(Task.queued_at, Task.id)
        .limit(1)
    )
    if skip_locked:
        oldest = oldest.with_for_update(skip_locked=True)
    # One round trip: pick, mark and read the task in a single UPDATE ... RETURNING.
    claim = (
        update(Task)
        .where(Task.id == oldest.scalar_subquery(), Task.status == JobStatus.QUEUED, _available(agent_id))
        .values(status=JobStatus.RUNNING, agent_id=agent_id, started_at=now)
        .returning(Task)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(claim)).scalars().first()


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
