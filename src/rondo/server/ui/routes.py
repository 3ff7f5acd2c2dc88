"""Web pages: sign in with an API token, the pipelines list, a pipeline's workflows, a job's steps and output."""

from __future__ import annotations

import hmac
import secrets
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from rondo.domain.status import FINAL_JOB_STATUSES, JobStatus
from rondo.engine.queue_reasons import why_waiting
from rondo.engine.workflow_actions import ActionError
from rondo.server import lookups
from rondo.server.actions import origin_of
from rondo.server.auth import SESSION_TOKEN_KEY, token_from_request
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store import pipelines as pipeline_q
from rondo.store import tasks as task_q
from rondo.store.models import User

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class SignInRequired(Exception):
    pass


async def page_user(request: Request, svc: Services = Depends(services)) -> User:
    token = token_from_request(request)
    user = await svc.accounts.user_for_token(token) if token else None
    if user is None:
        raise SignInRequired()
    return user


CSRF_KEY = "csrf"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use; every form that changes something carries it."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = request.session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, sent: str) -> None:
    expected = request.session.get(CSRF_KEY)
    if request.headers.get("sec-fetch-site") == "cross-site" or not isinstance(expected, str):
        raise ApiError(403, "This form did not come from Rondo's own pages.")
    if not hmac.compare_digest(expected, sent):
        raise ApiError(403, "This form is out of date; reload the page and try again.")


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, token: str = Form(...), svc: Services = Depends(services)) -> Response:
    user = await svc.accounts.user_for_token(token.strip())
    if user is None:
        return templates.TemplateResponse(request, "login.html", {"error": "That token is not valid."}, status_code=401)
    request.session[SESSION_TOKEN_KEY] = token.strip()
    await svc.users.signed(user, "user.logged_in", origin_of(user, request))
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
async def logout(request: Request, svc: Services = Depends(services)) -> Response:
    token = request.session.get(SESSION_TOKEN_KEY)
    user = await svc.accounts.user_for_token(token) if isinstance(token, str) else None
    request.session.clear()
    if user is not None:
        await svc.users.signed(user, "user.logged_out", origin_of(user, request))
    return RedirectResponse("/login", status_code=303)


@router.get("/", response_class=HTMLResponse)
async def pipelines_page(
    request: Request, user: User = Depends(page_user), svc: Services = Depends(services)
) -> Response:
    async with svc.db.session() as session:
        pipelines = await pipeline_q.pipelines_of_projects(session, limit=50, member=lookups.member_filter(user))
        rows: list[dict[str, Any]] = []
        for p, project in pipelines:
            workflows = await pipeline_q.workflows_of(session, p.id)
            rows.append({"pipeline": p, "project": project, "workflows": workflows})
    return templates.TemplateResponse(request, "pipelines.html", {"user": user, "rows": rows})


@router.get("/pipelines/{pipeline_id}", response_class=HTMLResponse)
async def pipeline_page(
    request: Request, pipeline_id: str, user: User = Depends(page_user), svc: Services = Depends(services)
) -> Response:
    async with svc.db.session() as session:
        pipeline, project = await lookups.pipeline(session, user, pipeline_id)
        workflows = [
            (w, await pipeline_q.jobs_of(session, w.id)) for w in await pipeline_q.workflows_of(session, pipeline.id)
        ]
    return templates.TemplateResponse(
        request,
        "pipeline.html",
        {
            "user": user,
            "pipeline": pipeline,
            "project": project,
            "workflows": workflows,
            "csrf": csrf_token(request),
            "final": {s.value for s in FINAL_JOB_STATUSES},
        },
    )


@router.post("/pipelines/{pipeline_id}/workflows/{workflow_id}/{action}")
async def workflow_action(
    request: Request,
    pipeline_id: str,
    workflow_id: str,
    action: str,
    csrf: str = Form(...),
    job_id: str = Form(""),
    mode: str = Form("start"),
    user: User = Depends(page_user),
    svc: Services = Depends(services),
) -> Response:
    """Approve a hold, cancel a workflow, or rerun it (from the start or from failed), from its page."""
    check_csrf(request, csrf)
    async with svc.db.session() as session:
        workflow, _pipeline, _project = await lookups.workflow(session, user, workflow_id)
    wf_id = workflow.id
    try:
        if action == "approve":
            await svc.workflow_actions.approve(wf_id, uuid.UUID(job_id), user.login, origin_of(user, request))
        elif action == "cancel":
            await svc.workflow_actions.cancel_workflow(wf_id, user.login)
        elif action == "rerun":
            await svc.workflow_actions.rerun(wf_id, actor=user.login, from_failed=mode == "failed")
        else:
            raise ApiError(404, f"no action {action}")
    except ValueError:
        raise ApiError(404, "Workflow not found") from None
    except ActionError as exc:
        raise ApiError(exc.status, exc.message) from None
    return RedirectResponse(f"/pipelines/{pipeline_id}", status_code=303)


@router.get("/{vcs}/{org}/{repo}/{number}", response_class=HTMLResponse)
async def job_page(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    number: int,
    user: User = Depends(page_user),
    svc: Services = Depends(services),
) -> Response:
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        job, workflow, pipeline = await lookups.job_by_number(session, project, number)
        tasks = await task_q.tasks_of_job(session, job.id)
        runs = [(t, await task_q.steps_of(session, t.id)) for t in tasks]
        waiting = await why_waiting(session, job) if job.status == JobStatus.QUEUED else None
    outputs = {}
    for task, steps in runs:
        for step in steps:
            outputs[(task.node_index, step.index)] = "".join(m["message"] for m in await svc.output.read(step, task))
    return templates.TemplateResponse(
        request,
        "job.html",
        {
            "user": user,
            "job": job,
            "workflow": workflow,
            "pipeline": pipeline,
            "project": project,
            "runs": runs,
            "outputs": outputs,
            "live": JobStatus(job.status) not in FINAL_JOB_STATUSES,
            "waiting": waiting,
        },
    )


def not_found_page(request: Request, exc: ApiError) -> Response:
    return templates.TemplateResponse(
        request, "message.html", {"user": None, "message": exc.message}, status_code=exc.status_code
    )
