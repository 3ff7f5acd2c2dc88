"""Building a rerun of a workflow: from the start, from failed, or selected jobs (CircleCI's three kinds).

A rerun is a new workflow in the same pipeline, linked to the original. Jobs that run again start
blocked; the others are carried over with the outcome they had, so their dependants can run.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.status import FAILED_JOB_STATUSES, FINAL_JOB_STATUSES, JobStatus, WorkflowStatus
from rondo.store import pipelines as pipeline_q
from rondo.store.models import Job, Workflow

RERUN_AGAIN = FAILED_JOB_STATUSES | {JobStatus.CANCELED, JobStatus.NOT_RUN, JobStatus.UNAUTHORIZED}


class RerunError(Exception):
    """A rerun that cannot be made; the message says why."""


def downstream(jobs: Iterable[Job], names: set[str]) -> set[str]:
    """`names` and every job that requires one of them, directly or not."""
    dependants: dict[str, set[str]] = {}
    for job in jobs:
        for required in job.requires:
            dependants.setdefault(required, set()).add(job.name)
    found = set(names)
    stack = list(names)
    while stack:
        for nxt in dependants.get(stack.pop(), ()):
            if nxt not in found:
                found.add(nxt)
                stack.append(nxt)
    return found


async def create_rerun(
    session: AsyncSession,
    original: Workflow,
    *,
    from_failed: bool = False,
    job_ids: list[str] | None = None,
    sparse_tree: bool = False,
    actor: str | None = None,
    auto_rerun: int = 0,
) -> Workflow:
    """Add the rerun workflow and its jobs; the caller settles it (which queues what can run)."""
    jobs = await pipeline_q.jobs_of(session, original.id)
    if any(j.status not in FINAL_JOB_STATUSES for j in jobs):
        raise RerunError("The workflow is still running; cancel it or wait for it to finish before rerunning.")
    if job_ids:
        by_id = {str(j.id): j for j in jobs}
        unknown = [i for i in job_ids if i not in by_id]
        if unknown:
            raise RerunError(f"Job(s) {', '.join(unknown)} are not in workflow {original.id}.")
        chosen = {by_id[i].name for i in job_ids}
        again = chosen if sparse_tree else downstream(jobs, chosen)
    elif from_failed:
        failed = {j.name for j in jobs if j.status in RERUN_AGAIN}
        if not failed:
            raise RerunError("The workflow has no failed jobs to rerun.")
        again = downstream(jobs, failed)
    else:
        again = {j.name for j in jobs}
    rerun = Workflow(
        pipeline_id=original.pipeline_id,
        name=original.name,
        status=WorkflowStatus.RUNNING,
        tag=original.tag,
        rerun_of_id=original.id,
        auto_rerun=auto_rerun,
        max_auto_reruns=original.max_auto_reruns,
        started_by=actor,
    )
    session.add(rerun)
    await session.flush()
    for job in jobs:
        runs_again = job.name in again
        session.add(
            Job(
                workflow_id=rerun.id,
                project_id=job.project_id,
                name=job.name,
                type=job.type,
                status=JobStatus.BLOCKED if runs_again else job.status,
                requires=dict(job.requires),
                definition=dict(job.definition),
                parallelism=job.parallelism,
                executor_type=job.executor_type,
                resource_class=job.resource_class,
                contexts=list(job.contexts or []),
                serial_group=job.serial_group,
                approved_by=None if runs_again else job.approved_by,
                started_at=None if runs_again else job.started_at,
                stopped_at=None if runs_again else job.stopped_at,
            )
        )
    await session.flush()
    return rerun
