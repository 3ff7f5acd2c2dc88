"""Load numbered jobs as v1.1 builds: each row with its previous build, retry origin, upstream jobs and user."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.server.api_v1.build_json import Build
from rondo.server.errors import ApiError
from rondo.store import pipelines as pipeline_q
from rondo.store.models import Job, Project, Workflow


async def _retry_of(session: AsyncSession, job: Job, workflow: Workflow) -> int | None:
    """In a rerun workflow, the number the same job had in the workflow it reruns."""
    if workflow.rerun_of_id is None:
        return None
    original = next((j for j in await pipeline_q.jobs_of(session, workflow.rerun_of_id) if j.name == job.name), None)
    return original.number if original else None


async def load_builds(session: AsyncSession, rows: list[pipeline_q.BuildRow], *, shallow: bool = False) -> list[Build]:
    """`shallow` skips what the shallow form does not show (upstream jobs, users)."""
    users = {} if shallow else await pipeline_q.users_by_login(session, {pipe.trigger_actor for _, _, pipe, _ in rows})
    siblings = [] if shallow else await pipeline_q.jobs_of_workflows(session, {wf.id for _, wf, _, _ in rows})
    ids: dict[tuple[uuid.UUID, str], str] = {(j.workflow_id, j.name): str(j.id) for j in siblings}
    builds = []
    for job, wf, pipe, project in rows:
        assert job.number is not None
        previous = await pipeline_q.previous_numbered_job(session, project.id, job.name, pipe.branch, job.number)
        builds.append(
            Build(
                job=job,
                workflow=wf,
                pipeline=pipe,
                project=project,
                upstream_job_ids=[ids[(wf.id, name)] for name in job.requires if (wf.id, name) in ids],
                previous=previous,
                retry_of=await _retry_of(session, job, wf),
                user=users.get(pipe.trigger_actor),
            )
        )
    return builds


async def build_by_number(session: AsyncSession, project: Project, number: int) -> Build:
    """One build with everything its details show; 404 "Build not found" as CircleCI answers."""
    job = await pipeline_q.job_by_number(session, project.id, number)
    if job is None:
        raise ApiError(404, "Build not found")
    wf = await pipeline_q.workflow_by_id(session, job.workflow_id)
    pipe = await pipeline_q.pipeline_by_id(session, wf.pipeline_id) if wf else None
    assert wf is not None and pipe is not None, "a job always belongs to a workflow of a pipeline"
    return (await load_builds(session, [(job, wf, pipe, project)]))[0]
