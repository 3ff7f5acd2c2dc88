"""v1.1 build details with steps and their output, and the step output downloads.

`output_url` works without a token, like CircleCI's presigned links: it is signed and expires.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from rondo.domain.slugs import ProjectSlug
from rondo.domain.status import JobStatus
from rondo.secrets.url_signing import BadSignature, sign_path, verify_path
from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store import tasks as task_q
from rondo.store.models import Job, Pipeline, Project, Step, Task, User, Workflow

router = APIRouter(tags=["v1.1"])

OUTPUT_LINK_TTL_S = 3600
_LIFECYCLE = {
    JobStatus.QUEUED: "queued",
    JobStatus.RUNNING: "running",
    JobStatus.NOT_RUN: "not_run",
    JobStatus.BLOCKED: "not_running",
    JobStatus.ON_HOLD: "not_running",
    JobStatus.NOT_RUNNING: "not_running",
}


def _output_path(project: Project, job: Job, step: int, index: int) -> str:
    return f"/api/v1.1/project/{ProjectSlug.parse(project.slug).long}/{job.number}/output/{step}/{index}"


def _action(step: Step, task: Task, command: str | None, url: str) -> dict[str, Any]:
    run_ms = None
    if step.started_at and step.stopped_at:
        run_ms = int((step.stopped_at - step.started_at).total_seconds() * 1000)
    return {
        "index": task.node_index,
        "step": step.index,
        "name": step.name,
        "type": "test",
        "status": step.status,
        "failed": True if step.status == "failed" else None,
        "exit_code": step.exit_code,
        "bash_command": command,
        "parallel": True,
        "background": False,
        "infrastructure_fail": True if step.status == "infrastructure_fail" else None,
        "timedout": True if step.status == "timedout" else None,
        "canceled": True if step.status == "canceled" else None,
        "truncated": False,
        "has_output": step.output_bytes > 0,
        "output_url": url,
        "start_time": iso(step.started_at),
        "end_time": iso(step.stopped_at),
        "run_time_millis": run_ms,
    }


def _build(
    svc: Services,
    job: Job,
    wf: Workflow,
    pipe: Pipeline,
    project: Project,
    steps_by_task: list[tuple[Task, list[Step]]],
) -> dict[str, Any]:
    slug = ProjectSlug.parse(project.slug)
    public = svc.settings.resolved_public_url
    status = JobStatus(job.status)
    final = status not in _LIFECYCLE
    commands = {i: s.get("command") for i, s in enumerate(job.definition.get("steps", [])) if isinstance(s, dict)}
    steps: dict[int, dict[str, Any]] = {}
    for task, task_steps in steps_by_task:
        for step in task_steps:
            url = public + sign_path(
                svc.server_key, _output_path(project, job, step.index, task.node_index), OUTPUT_LINK_TTL_S
            )
            entry = steps.setdefault(step.index, {"name": step.name, "actions": []})
            entry["actions"].append(_action(step, task, commands.get(step.index), url))
    duration = None
    if job.started_at and job.stopped_at:
        duration = int((job.stopped_at - job.started_at).total_seconds() * 1000)
    return {
        "vcs_url": pipe.vcs_url,
        "build_url": f"{public}/{project.slug}/{job.number}",
        "build_num": job.number,
        "branch": pipe.branch,
        "vcs_tag": pipe.tag,
        "vcs_revision": pipe.revision,
        "subject": pipe.commit_subject,
        "body": pipe.commit_body,
        "why": "api" if pipe.trigger_type == "api" else "github",
        "username": slug.org,
        "reponame": slug.repo,
        "vcs_type": slug.vcs_type,
        "status": job.status,
        "lifecycle": "finished" if final else _LIFECYCLE.get(status, "not_running"),
        "outcome": job.status if final else None,
        "failed": True if status == JobStatus.FAILED else None,
        "queued_at": iso(job.queued_at),
        "start_time": iso(job.started_at),
        "stop_time": iso(job.stopped_at),
        "build_time_millis": duration,
        "parallel": job.parallelism,
        "user": {"is_user": True, "login": pipe.trigger_actor, "name": None, "vcs_type": slug.vcs_type},
        "workflows": {
            "job_name": job.name,
            "job_id": str(job.id),
            "workflow_id": str(wf.id),
            "workspace_id": str(wf.id),
            "workflow_name": wf.name,
            "upstream_job_ids": [],
            "upstream_concurrency_map": {},
        },
        "picard": {"executor": job.executor_type, "resource_class": {"class": job.resource_class}},
        "messages": [],
        "steps": [steps[i] for i in sorted(steps)],
    }


@router.get("/api/v1.1/project/{vcs}/{org}/{repo}/{number}")
async def build_details(
    vcs: str,
    org: str,
    repo: str,
    number: int,
    _: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    async with svc.db.session() as session:
        project = await lookups.project(session, vcs, org, repo)
        job, wf, pipe = await lookups.job_by_number(session, project, number)
        tasks = await task_q.tasks_of_job(session, job.id)
        steps_by_task = [(t, await task_q.steps_of(session, t.id)) for t in tasks]
    return _build(svc, job, wf, pipe, project, steps_by_task)


async def _step_output(svc: Services, vcs: str, org: str, repo: str, number: int, step: int, index: int) -> Any:
    async with svc.db.session() as session:
        project = await lookups.project(session, vcs, org, repo)
        job, _, _ = await lookups.job_by_number(session, project, number)
        task = next((t for t in await task_q.tasks_of_job(session, job.id) if t.node_index == index), None)
        row = await task_q.step_of(session, task.id, step) if task else None
    if task is None or row is None:
        raise ApiError(404, "Step not found")
    return await svc.output.read(row, task)


@router.get("/api/v1.1/project/{vcs}/{org}/{repo}/{number}/output/{step}/{index}")
async def step_output(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    number: int,
    step: int,
    index: int,
    expires: str | None = Query(None),
    signature: str | None = Query(None),
    svc: Services = Depends(services),
) -> JSONResponse:
    """The step's output as CircleCI's JSON array; a signed link or an API token opens it."""
    if signature is not None:
        try:
            verify_path(svc.server_key, request.url.path, expires, signature)
        except BadSignature as exc:
            raise ApiError(403, str(exc)) from None
    else:
        await current_user(request, svc)
    return JSONResponse(await _step_output(svc, vcs, org, repo, number, step, index))


@router.get("/api/private/output/raw/{vcs}/{org}/{repo}/{number}/output/{index}/{step}")
async def raw_step_output(
    vcs: str,
    org: str,
    repo: str,
    number: int,
    index: int,
    step: int,
    _: User = Depends(current_user),
    svc: Services = Depends(services),
) -> PlainTextResponse:
    """The step's output as plain text (what CircleCI's MCP server reads)."""
    messages = await _step_output(svc, vcs, org, repo, number, step, index)
    return PlainTextResponse("".join(m["message"] for m in messages))
