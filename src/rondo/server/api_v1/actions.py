"""v1.1 writes old clients still send: follow, trigger a branch, cancel and retry a build.

A v1.1 "build" is a job. Triggering a branch starts a pipeline (a 2.1 config has no single job to
build), cancel cancels the job, and retry reruns its workflow with just that job, as CircleCI does.
A project API token of the `all` scope may trigger a branch, cancel and retry; following a project and
`POST .../build` take a personal token, as CircleCI documents.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from rondo.engine.pipelines import Trigger
from rondo.engine.projects import ProjectExists
from rondo.engine.workflow_actions import ActionError
from rondo.server import lookups
from rondo.server.actions import origin_of
from rondo.server.api_v1.build_json import build_summary
from rondo.server.api_v1.build_rows import build_by_number
from rondo.server.auth import Caller, current_user, project_writer
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store import pipelines as pipeline_q
from rondo.store.models import User
from rondo.vcs import VcsError

router = APIRouter(prefix="/api/v1.1", tags=["v1.1"])


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


@router.post("/project/{vcs}/{org}/{repo}/follow")
async def follow(
    vcs: str, org: str, repo: str, request: Request, user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    """`{"followed": true, "first_build": …}`; Rondo needs `{"vcs_url"}` to follow a new repository."""
    body = await _json_body(request)
    async with svc.db.session() as session:
        try:
            await lookups.project(session, user, vcs, org, repo)
            return {"followed": True, "first_build": None}
        except ApiError:
            pass
    vcs_url = body.get("vcs_url")
    if not isinstance(vcs_url, str) or not vcs_url:
        raise ApiError(
            400, 'Rondo follows a git repository by its URL: send {"vcs_url": "…"} (a git URL or a server path)'
        )
    slug = lookups.parse_slug(vcs, org, repo)
    try:
        await svc.projects.follow(slug, vcs_url, user.login, origin_of(user, request))
    except ProjectExists:
        return {"followed": True, "first_build": None}
    except VcsError as exc:
        raise ApiError(400, f"cannot read the repository at {vcs_url}: {exc}") from None
    return {"followed": True, "first_build": None}


async def _trigger(svc: Services, vcs: str, org: str, repo: str, branch: str | None, body: dict[str, Any],
                   who: lookups.Viewer, actor: str) -> dict[str, Any]:  # fmt: skip
    async with svc.db.session() as session:
        project, organization = await lookups.project_and_organization(session, who, vcs, org, repo)
    tag = body.get("tag") if isinstance(body.get("tag"), str) else None
    revision = body.get("revision") if isinstance(body.get("revision"), str) else None
    pipeline = await svc.pipelines.trigger(
        project.id,
        Trigger(type="api", actor=actor, branch=None if tag else branch, tag=tag, revision=revision),
        project,
        organization,
    )
    return {"status": 201, "body": "Build created", "pipeline_id": str(pipeline.id), "number": pipeline.number}


@router.post("/project/{vcs}/{org}/{repo}/tree/{branch:path}", status_code=201)
async def trigger_branch(
    vcs: str, org: str, repo: str, branch: str, request: Request, caller: Caller = Depends(project_writer),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    """Start a pipeline on a branch (`revision`/`tag` in the body are honoured; `build_parameters` are not)."""
    return await _trigger(svc, vcs, org, repo, branch, await _json_body(request), caller.viewer, caller.login)


@router.post("/project/{vcs}/{org}/{repo}/build", status_code=201)
async def trigger_build(
    vcs: str, org: str, repo: str, request: Request, user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    body = await _json_body(request)
    branch = body.get("branch") if isinstance(body.get("branch"), str) else None
    return await _trigger(svc, vcs, org, repo, branch, body, user, user.login)


@router.post("/project/{vcs}/{org}/{repo}/{number}/cancel")
async def cancel_build(
    vcs: str, org: str, repo: str, number: int, caller: Caller = Depends(project_writer),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    async with svc.db.session() as session:
        project = await lookups.project(session, caller.viewer, vcs, org, repo)
        build = await build_by_number(session, project, number)
    try:
        await svc.workflow_actions.cancel_job(build.job.id, caller.login)
    except ActionError as exc:
        if exc.status != 400:
            raise ApiError(exc.status, exc.message) from None
    async with svc.db.session() as session:
        build = await build_by_number(session, project, number)
    summary = build_summary(build, svc.settings.resolved_public_url)
    summary["canceled"] = summary.get("status") == "canceled"
    return summary


@router.post("/project/{vcs}/{org}/{repo}/{number}/retry")
async def retry_build(
    vcs: str, org: str, repo: str, number: int, caller: Caller = Depends(project_writer),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    """Rerun the build's workflow with just this job; answers the new build once it has a number."""
    async with svc.db.session() as session:
        project = await lookups.project(session, caller.viewer, vcs, org, repo)
        build = await build_by_number(session, project, number)
    try:
        rerun_id = await svc.workflow_actions.rerun(
            build.job.workflow_id, actor=caller.login, job_ids=[str(build.job.id)], sparse_tree=True
        )
    except ActionError as exc:
        raise ApiError(exc.status, exc.message) from None
    async with svc.db.session() as session:
        jobs = await pipeline_q.jobs_of(session, rerun_id)
        again = next((j for j in jobs if j.name == build.job.name), None)
        if again is None or again.number is None:
            return {"status": 202, "body": "Build retried", "workflow_id": str(rerun_id)}
        new = await build_by_number(session, project, again.number)
    return build_summary(new, svc.settings.resolved_public_url)
