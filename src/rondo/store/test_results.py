"""Queries on test results: the rows a job's `store_test_results` steps reported, and past timings."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.test_insights import FAILED_RESULTS, PASSED
from rondo.store.models import Job, JobTestResult, Pipeline, Workflow

MAX_FLAKY_GROUPS = 10_000
IN_CHUNK = 500  # values per SQL IN list


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
    return await session.scalar(_LATEST_JOB_WITH_TESTS, {"project_id": project_id, "name": job_name})


_LATEST_JOB_WITH_TESTS = (
    select(Job.id)
    .where(Job.project_id == bindparam("project_id"), Job.name == bindparam("name"))
    .where(select(JobTestResult.id).where(JobTestResult.job_id == Job.id).exists())
    .order_by(Job.number.desc())
    .limit(1)
)


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


def _of_project(project_id: uuid.UUID, since: datetime) -> Any:
    return (
        select()
        .select_from(JobTestResult)
        .join(Job, Job.id == JobTestResult.job_id)
        .join(Workflow, Workflow.id == Job.workflow_id)
        .join(Pipeline, Pipeline.id == Workflow.pipeline_id)
        .where(Job.project_id == project_id, JobTestResult.created_at >= since, Pipeline.revision.is_not(None))
    )


async def passed_and_failed(session: AsyncSession, project_id: uuid.UUID, since: datetime) -> list[Row[Any]]:
    """(revision, job_name, classname, test_name, file) of each test that passed and failed on one commit."""
    passed = func.sum(case((JobTestResult.result == PASSED, 1), else_=0))
    failed = func.sum(case((JobTestResult.result.in_(FAILED_RESULTS), 1), else_=0))
    columns = (Pipeline.revision, Job.name, JobTestResult.classname, JobTestResult.name, JobTestResult.file)
    stmt = (
        _of_project(project_id, since)
        .add_columns(
            Pipeline.revision,
            Job.name.label("job_name"),
            JobTestResult.classname,
            JobTestResult.name.label("test_name"),
            JobTestResult.file,
        )
        .group_by(*columns)
        .having(passed > 0, failed > 0)
        .limit(MAX_FLAKY_GROUPS)
    )
    return list((await session.execute(stmt)).all())


async def failures_on(
    session: AsyncSession, project_id: uuid.UUID, since: datetime, revisions: Collection[str]
) -> list[Row[Any]]:
    """The failed test results on these commits, with their job, workflow and pipeline."""
    rows: list[Row[Any]] = []
    ordered = sorted(revisions)
    for start in range(0, len(ordered), IN_CHUNK):
        stmt = (
            _of_project(project_id, since)
            .add_columns(
                Pipeline.revision,
                Pipeline.number.label("pipeline_number"),
                Job.name.label("job_name"),
                Job.number.label("job_number"),
                Job.started_at,
                Job.stopped_at,
                Workflow.id.label("workflow_id"),
                Workflow.name.label("workflow_name"),
                Workflow.created_at.label("workflow_created_at"),
                JobTestResult.classname,
                JobTestResult.name.label("test_name"),
                JobTestResult.file,
                JobTestResult.source,
                JobTestResult.created_at,
            )
            .where(JobTestResult.result.in_(FAILED_RESULTS), Pipeline.revision.in_(ordered[start : start + IN_CHUNK]))
        )
        rows.extend((await session.execute(stmt)).all())
    return rows


async def results_of_workflows(session: AsyncSession, workflow_ids: Sequence[uuid.UUID]) -> list[Any]:
    """Every test result of these workflows' jobs: workflow id, job name, test, result, seconds, source."""
    if not workflow_ids:
        return []
    stmt = (
        select(
            Job.workflow_id,
            Job.name.label("job_name"),
            JobTestResult.classname,
            JobTestResult.name.label("test_name"),
            JobTestResult.file,
            JobTestResult.result,
            JobTestResult.run_time,
            JobTestResult.source,
        )
        .join(Job, Job.id == JobTestResult.job_id)
        .where(Job.workflow_id.in_(list(workflow_ids)))
        .order_by(JobTestResult.id)
    )
    return list((await session.execute(stmt)).all())
