"""Audit events of a job's life (workflow.job.scheduled, .start, .finish, .approve), in the job's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.ops.audit import Origin, Ref, org_ref, record, user_ref
from rondo.store import pipelines as pipeline_q
from rondo.store import users as user_q
from rondo.store.models import Job, Pipeline, Workflow

AUTOMATIC_ACTORS = {"auto-rerun"}


def actor_login(workflow: Workflow, pipeline: Pipeline) -> str:
    """Who a job runs for: whoever started this workflow (a rerun's user), else the pipeline's trigger actor."""
    started_by = workflow.started_by
    if started_by and started_by not in AUTOMATIC_ACTORS:
        return started_by
    return pipeline.trigger_actor


async def actor_origin(session: AsyncSession, login: str) -> Origin:
    user = await user_q.user_by_login(session, login)
    return Origin(user_ref(user) if user is not None else Ref(login, "system", login))


async def record_job_event(
    session: AsyncSession,
    action: str,
    job: Job,
    *,
    origin: Origin | None = None,
    success: bool = True,
    **payload: Any,
) -> None:
    workflow, pipeline, project, org = await pipeline_q.lineage(session, job.workflow_id)
    if origin is None:
        origin = await actor_origin(session, actor_login(workflow, pipeline))
    body = {
        "job": {"id": str(job.id), "name": job.name, "number": job.number, "type": job.type, "status": job.status},
        "workflow": {"id": str(workflow.id), "name": workflow.name},
        "pipeline": {"id": str(pipeline.id), "number": pipeline.number},
        "project": {"id": str(project.id), "slug": project.slug},
        **payload,
    }
    record(
        session,
        action,
        origin,
        Ref(str(job.id), "job", job.name),
        org_ref(org),
        body,
        {"project": project.slug, "workflow": workflow.name},
        success=success,
    )
