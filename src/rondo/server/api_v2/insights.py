"""/api/v2/insights: workflow and job metrics of a project (success rate, durations, throughput, MTTR)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Query

from rondo.domain.insights import WINDOWS, Run, metrics
from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store import pipelines as pipeline_q
from rondo.store.models import User
from rondo.store.types import utcnow

router = APIRouter(prefix="/api/v2/insights", tags=["Insights"])


def _window(name: str) -> Any:
    if name not in WINDOWS:
        raise ApiError(400, f"reporting-window must be one of {', '.join(WINDOWS)}")
    return WINDOWS[name]


async def _runs(svc: Services, user: User, vcs: str, org: str, repo: str, branch: str | None, all_branches: bool,
                window_name: str) -> tuple[Any, Any, list[Any]]:  # fmt: skip
    window = _window(window_name)
    since = utcnow() - window
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        chosen = None if all_branches else (branch or project.default_branch)
        rows = await pipeline_q.workflow_runs(session, project.id, since, chosen)
    return project, window, rows


@router.get("/{vcs}/{org}/{repo}/workflows")
async def workflows_summary(
    vcs: str, org: str, repo: str,
    branch: str | None = Query(None), all_branches: bool = Query(False, alias="all-branches"),
    reporting_window: str = Query("last-90-days", alias="reporting-window"),
    user: User = Depends(current_user), svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    project, window, rows = await _runs(svc, user, vcs, org, repo, branch, all_branches, reporting_window)
    by_name: dict[str, list[Run]] = defaultdict(list)
    for workflow, _pipeline in rows:
        by_name[workflow.name].append(Run(workflow.status, workflow.created_at, workflow.stopped_at))
    end = utcnow()
    return {
        "items": [
            {
                "project_id": str(project.id),
                "name": name,
                "metrics": metrics(runs, window),
                "window_start": iso(end - window),
                "window_end": iso(end),
            }
            for name, runs in sorted(by_name.items())
        ],
        "next_page_token": None,
    }


@router.get("/{vcs}/{org}/{repo}/workflows/{workflow_name}")
async def workflow_runs(
    vcs: str, org: str, repo: str, workflow_name: str,
    branch: str | None = Query(None), all_branches: bool = Query(False, alias="all-branches"),
    reporting_window: str = Query("last-90-days", alias="reporting-window"),
    user: User = Depends(current_user), svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    _project, _window, rows = await _runs(svc, user, vcs, org, repo, branch, all_branches, reporting_window)
    items = []
    for workflow, pipeline in rows:
        if workflow.name != workflow_name:
            continue
        run = Run(workflow.status, workflow.created_at, workflow.stopped_at)
        items.append(
            {
                "id": str(workflow.id),
                "branch": pipeline.branch,
                "duration": run.duration_s,
                "created_at": iso(workflow.created_at),
                "stopped_at": iso(workflow.stopped_at),
                "credits_used": 0,
                "status": workflow.status,
                "is_approval": False,
            }
        )
    return {"items": items, "next_page_token": None}


@router.get("/{vcs}/{org}/{repo}/workflows/{workflow_name}/jobs")
async def workflow_jobs_summary(
    vcs: str, org: str, repo: str, workflow_name: str,
    branch: str | None = Query(None), all_branches: bool = Query(False, alias="all-branches"),
    reporting_window: str = Query("last-90-days", alias="reporting-window"),
    user: User = Depends(current_user), svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    _project, window, rows = await _runs(svc, user, vcs, org, repo, branch, all_branches, reporting_window)
    by_job: dict[str, list[Run]] = defaultdict(list)
    async with svc.db.session() as session:
        for workflow, _pipeline in rows:
            if workflow.name != workflow_name:
                continue
            for job in await pipeline_q.jobs_of(session, workflow.id):
                if job.number is None or job.started_at is None:
                    continue  # never ran (or carried over into a rerun)
                by_job[job.name].append(Run(job.status, job.started_at, job.stopped_at))
    end = utcnow()
    return {
        "items": [
            {"name": name, "metrics": metrics(runs, window), "window_start": iso(end - window), "window_end": iso(end)}
            for name, runs in sorted(by_job.items())
        ],
        "next_page_token": None,
    }
