"""/api/v2 workflows and jobs: a workflow, its jobs, job details by number."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.server.shapes import job_details_json, workflow_job_json, workflow_json
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store import tasks as task_q
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["Workflow", "Job"])


@router.get("/workflow/{workflow_id}")
async def get_workflow(
    workflow_id: str, _: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    async with svc.db.session() as session:
        workflow, pipeline, project = await lookups.workflow(session, workflow_id)
        return workflow_json(workflow, pipeline, project)


@router.get("/workflow/{workflow_id}/job")
async def list_workflow_jobs(
    workflow_id: str, _: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    async with svc.db.session() as session:
        workflow, _pipeline, project = await lookups.workflow(session, workflow_id)
        jobs = await pipeline_q.jobs_of(session, workflow.id)
    ids = {j.name: str(j.id) for j in jobs}
    return {"items": [workflow_job_json(j, ids, project) for j in jobs], "next_page_token": None}


@router.get("/project/{vcs}/{org}/{repo}/job/{number}")
async def get_job_details(
    vcs: str,
    org: str,
    repo: str,
    number: int,
    _: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    async with svc.db.session() as session:
        project = await lookups.project(session, vcs, org, repo)
        job, workflow, pipeline = await lookups.job_by_number(session, project, number)
        tasks = await task_q.tasks_of_job(session, job.id)
        org_row = await project_q.organization(session, project.organization_id)
    return job_details_json(
        job,
        [(t.node_index, t.status) for t in tasks],
        workflow,
        pipeline,
        project,
        org_row.name,
        svc.settings.resolved_public_url,
    )
