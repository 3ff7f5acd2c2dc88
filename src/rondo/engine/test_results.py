"""`store_test_results` on the server: per-test rows, and the timings `circleci tests split` reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.agent_protocol import CaseResult, CommitResult, SplitTimings
from rondo.store import test_results as test_q
from rondo.store.models import Job, JobTestResult, Task

MAX_TIMINGS = 20_000


async def add(session: AsyncSession, job: Job, task: Task, tests: Sequence[CaseResult]) -> CommitResult:
    for case in tests:
        session.add(
            JobTestResult(
                job_id=job.id,
                node_index=task.node_index,
                classname=case.classname,
                name=case.name,
                file=case.file,
                result=case.result,
                run_time=case.run_time,
                message=case.message,
                source=case.source,
            )
        )
    return CommitResult(committed=len(tests))


async def timings_for(session: AsyncSession, project_id: uuid.UUID, job_name: str) -> SplitTimings | None:
    """Seconds per test file and per class from the newest run of this job that stored test results."""
    job_id = await test_q.latest_job_with_tests(session, project_id, job_name)
    if job_id is None:
        return None
    files: dict[str, float] = {}
    classnames: dict[str, float] = {}
    for file, classname, seconds in await test_q.timings(session, job_id, MAX_TIMINGS):
        if file:
            files[file] = files.get(file, 0.0) + seconds
        if classname:
            classnames[classname] = classnames.get(classname, 0.0) + seconds
    return SplitTimings(files=files, classnames=classnames)
