"""/api/v2 workflows and jobs: a workflow, its jobs, job details by number."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from rondo.domain.status import FAILED_JOB_STATUSES, JobStatus
from rondo.engine.queue_reasons import serial_group_wait, why_waiting
from rondo.engine.workflow_actions import ActionError
from rondo.server import lookups
from rondo.server.actions import origin_of
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import job_details_json, workflow_job_json, workflow_json
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store import tasks as task_q
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["Workflow", "Job"])


@router.get("/workflow/{workflow_id}")
async def get_workflow(
    workflow_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    async with svc.db.session() as session:
        workflow, pipeline, project = await lookups.workflow(session, user, workflow_id)
        return workflow_json(workflow, pipeline, project)


@router.get("/workflow/{workflow_id}/job")
async def list_workflow_jobs(
    workflow_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    async with svc.db.session() as session:
        workflow, _pipeline, project = await lookups.workflow(session, user, workflow_id)
        jobs = await pipeline_q.jobs_of(session, workflow.id)
    ids = {j.name: str(j.id) for j in jobs}
    return {"items": [workflow_job_json(j, ids, project) for j in jobs], "next_page_token": None}


class RerunRequest(BaseModel):
    jobs: list[uuid.UUID] = Field(default_factory=list, max_length=500)
    from_failed: bool = False
    sparse_tree: bool = False
    enable_ssh: bool = False


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, f"{what} not found") from None


@router.post("/workflow/{workflow_id}/cancel", status_code=202)
async def cancel_workflow(
    workflow_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, str]:
    async with svc.db.session() as session:
        workflow, _pipeline, _project = await lookups.workflow(session, user, workflow_id)
    try:
        await svc.workflow_actions.cancel_workflow(workflow.id, user.login)
    except ActionError as exc:
        raise ApiError(exc.status, exc.message) from None
    return {"message": "Accepted."}


@router.post("/workflow/{workflow_id}/approve/{approval_request_id}", status_code=202)
async def approve_job(
    workflow_id: str,
    approval_request_id: str,
    request: Request,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, str]:
    async with svc.db.session() as session:
        workflow, _pipeline, _project = await lookups.workflow(session, user, workflow_id)
    try:
        await svc.workflow_actions.approve(
            workflow.id,
            _uuid(approval_request_id, "Approval request"),
            user.login,
            origin_of(user, request),
        )
    except ActionError as exc:
        raise ApiError(exc.status, exc.message) from None
    return {"message": "Accepted."}


@router.post("/workflow/{workflow_id}/rerun", status_code=202)
async def rerun_workflow(
    workflow_id: str,
    body: RerunRequest | None = None,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, str]:
    body = body or RerunRequest()
    if body.enable_ssh:
        raise ApiError(400, "Rerunning with SSH is not supported by this server")
    async with svc.db.session() as session:
        workflow, _pipeline, _project = await lookups.workflow(session, user, workflow_id)
    try:
        new_id = await svc.workflow_actions.rerun(
            workflow.id,
            actor=user.login,
            from_failed=body.from_failed,
            job_ids=[str(j) for j in body.jobs] or None,
            sparse_tree=body.sparse_tree,
        )
    except ActionError as exc:
        raise ApiError(exc.status, exc.message) from None
    return {"workflow_id": str(new_id)}


@router.post("/project/{vcs}/{org}/{repo}/job/{number}/cancel")
async def cancel_job(
    vcs: str,
    org: str,
    repo: str,
    number: int,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, str]:
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        job, _workflow, _pipeline = await lookups.job_by_number(session, project, number)
    try:
        await svc.workflow_actions.cancel_job(job.id, user.login)
    except ActionError as exc:
        raise ApiError(exc.status, exc.message) from None
    return {"message": "Accepted."}


@router.get("/project/{vcs}/{org}/{repo}/job/{number}")
async def get_job_details(
    vcs: str,
    org: str,
    repo: str,
    number: int,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        job, workflow, pipeline = await lookups.job_by_number(session, project, number)
        tasks = await task_q.tasks_of_job(session, job.id)
        org_row = await project_q.organization(session, project.organization_id)
        messages = []
        if job.message:  # why it did not run, e.g. a context it may not use
            messages.append({"type": "error", "reason": str(job.status), "message": job.message})
        for task in tasks:  # why a run ended early: its agent was lost, the installation was restored, ...
            if task.message and task.status in FAILED_JOB_STATUSES:
                entry = {"type": "error", "reason": str(task.status), "message": task.message}
                if entry not in messages:
                    messages.append(entry)
        if job.status == JobStatus.QUEUED:
            messages.append({"type": "info", "reason": "queued", "message": await why_waiting(session, job)})
        elif job.status == JobStatus.BLOCKED:
            group_wait = await serial_group_wait(session, job)
            if group_wait:
                messages.append({"type": "info", "reason": "serial-group", "message": group_wait})
    return job_details_json(
        job,
        [(t.node_index, t.status) for t in tasks],
        workflow,
        pipeline,
        project,
        org_row.name,
        svc.settings.resolved_public_url,
        messages,
    )
