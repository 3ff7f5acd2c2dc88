"""Flaky tests and workflow test metrics of a project, from the test results its jobs stored.

The database finds the tests that both passed and failed on one commit (the definition of a flake);
`domain.test_insights` does the rest.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.test_insights import (
    Flake,
    FlakyTest,
    TestKey,
    TestRun,
    WorkflowRun,
    flaky_tests,
    metrics_of_tests,
)
from rondo.store import pipelines as pipeline_q
from rondo.store import test_results as test_q

LOOKBACK = timedelta(days=90)  # the longest Insights window; older flakes have long stopped counting
RECENT_RUNS = 10  # test metrics are of a workflow's 10 newest runs, as CircleCI computes them


def _seconds(started: datetime | None, stopped: datetime | None) -> int:
    if started is None or stopped is None:
        return 0
    return max(int((stopped - started).total_seconds()), 0)


async def project_flaky_tests(session: AsyncSession, project_id: uuid.UUID, now: datetime) -> list[FlakyTest]:
    since = now - LOOKBACK
    groups = {
        (g.revision, TestKey(g.job_name, g.classname, g.test_name, g.file))
        for g in await test_q.passed_and_failed(session, project_id, since)
    }
    if not groups:
        return []
    flakes = []
    for row in await test_q.failures_on(session, project_id, since, {revision for revision, _ in groups}):
        key = TestKey(row.job_name, row.classname, row.test_name, row.file)
        if (row.revision, key) not in groups:
            continue  # failed on this commit, but never passed on it
        flakes.append(
            Flake(
                key=key,
                source=row.source or "",
                failed_at=row.created_at,
                job_number=row.job_number,
                job_seconds=_seconds(row.started_at, row.stopped_at),
                workflow_id=str(row.workflow_id),
                workflow_name=row.workflow_name,
                workflow_created_at=row.workflow_created_at,
                pipeline_number=row.pipeline_number,
            )
        )
    return flaky_tests(flakes, now)


async def workflow_test_metrics(
    session: AsyncSession, project_id: uuid.UUID, workflow_name: str, branch: str | None, now: datetime
) -> dict[str, Any]:
    """Test metrics of the workflow's newest runs on `branch` (every branch when None)."""
    newest = await pipeline_q.latest_workflows(session, project_id, workflow_name, branch, RECENT_RUNS)
    runs = [WorkflowRun(str(wf.id), pipe.number) for wf, pipe in reversed(newest)]
    rows = await test_q.results_of_workflows(session, [wf.id for wf, _ in newest])
    tests = [
        TestRun(
            key=TestKey(r.job_name, r.classname, r.test_name, r.file),
            result=r.result,
            run_time=float(r.run_time or 0.0),
            source=r.source or "",
            workflow_id=str(r.workflow_id),
        )
        for r in rows
    ]
    flaky = {t.key for t in await project_flaky_tests(session, project_id, now)}
    return metrics_of_tests(runs, tests, flaky)
