"""Queries on pipelines, workflows and jobs."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Job, Pipeline, Workflow


async def pipeline_by_id(session: AsyncSession, pipeline_id: uuid.UUID) -> Pipeline | None:
    return await session.get(Pipeline, pipeline_id)


async def pipeline_by_number(session: AsyncSession, project_id: uuid.UUID, number: int) -> Pipeline | None:
    stmt = select(Pipeline).where(Pipeline.project_id == project_id, Pipeline.number == number)
    return (await session.execute(stmt)).scalar_one_or_none()


async def pipelines_page(
    session: AsyncSession,
    *,
    project_id: uuid.UUID | None = None,
    branch: str | None = None,
    before_number: int | None = None,
    before_created: object | None = None,
    limit: int = 20,
) -> list[Pipeline]:
    """Newest first. Paging is by (created_at, id) across projects, by number within one project."""
    stmt = select(Pipeline)
    if project_id is not None:
        stmt = stmt.where(Pipeline.project_id == project_id)
        if before_number is not None:
            stmt = stmt.where(Pipeline.number < before_number)
        stmt = stmt.order_by(Pipeline.number.desc())
    else:
        stmt = stmt.order_by(Pipeline.created_at.desc(), Pipeline.id.desc())
    if branch is not None:
        stmt = stmt.where(Pipeline.branch == branch)
    return list((await session.execute(stmt.limit(limit))).scalars())


async def workflows_of(session: AsyncSession, pipeline_id: uuid.UUID) -> list[Workflow]:
    stmt = select(Workflow).where(Workflow.pipeline_id == pipeline_id).order_by(Workflow.created_at, Workflow.name)
    return list((await session.execute(stmt)).scalars())


async def workflow_by_id(session: AsyncSession, workflow_id: uuid.UUID) -> Workflow | None:
    return await session.get(Workflow, workflow_id)


async def jobs_of(session: AsyncSession, workflow_id: uuid.UUID) -> list[Job]:
    stmt = select(Job).where(Job.workflow_id == workflow_id).order_by(Job.created_at, Job.name)
    return list((await session.execute(stmt)).scalars())


async def job_by_number(session: AsyncSession, project_id: uuid.UUID, number: int) -> Job | None:
    stmt = select(Job).where(Job.project_id == project_id, Job.number == number)
    return (await session.execute(stmt)).scalar_one_or_none()


async def job_by_id(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    return await session.get(Job, job_id)
