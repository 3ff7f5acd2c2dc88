"""Queries on test results: the rows a job's `store_test_results` steps reported, and past timings."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Job, JobTestResult


async def tests_of_job(
    session: AsyncSession, job_id: uuid.UUID, offset: int = 0, limit: int | None = None
) -> list[JobTestResult]:
    query = (
        select(JobTestResult)
        .where(JobTestResult.job_id == job_id)
        .order_by(JobTestResult.node_index, JobTestResult.id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list((await session.scalars(query)).all())


async def latest_job_with_tests(session: AsyncSession, project_id: uuid.UUID, job_name: str) -> uuid.UUID | None:
    """The newest job of this name in the project that reported test results (for timing-based splits)."""
    query = (
        select(Job.id)
        .where(Job.project_id == project_id, Job.name == job_name)
        .where(select(JobTestResult.id).where(JobTestResult.job_id == Job.id).exists())
        .order_by(Job.number.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def timings(session: AsyncSession, job_id: uuid.UUID, limit: int) -> list[tuple[str | None, str, float]]:
    """(file, classname, seconds) summed per file and class of one job's tests."""
    query = (
        select(JobTestResult.file, JobTestResult.classname, func.sum(JobTestResult.run_time))
        .where(JobTestResult.job_id == job_id)
        .group_by(JobTestResult.file, JobTestResult.classname)
        .limit(limit)
    )
    return [(f, c, float(t or 0.0)) for f, c, t in (await session.execute(query)).all()]


async def drop_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(JobTestResult).where(JobTestResult.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
