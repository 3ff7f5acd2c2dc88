"""/api/v2/project/{slug}/{job-number}/artifacts and /tests: what a job stored.

Rondo does not store artifacts or test results yet, so an existing job has an empty list of each;
a job that does not exist is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["Job"])

JobNumber = Annotated[int, Path(ge=0, le=lookups.MAX_NUMBER)]


async def _check_job(svc: Services, vcs: str, org: str, repo: str, number: int) -> None:
    async with svc.db.session() as session:
        project = await lookups.project(session, vcs, org, repo)
        await lookups.job_by_number(session, project, number)


@router.get("/project/{vcs}/{org}/{repo}/{job_number}/artifacts")
async def get_job_artifacts(
    vcs: str,
    org: str,
    repo: str,
    job_number: JobNumber,
    _: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    await _check_job(svc, vcs, org, repo, job_number)
    return {"items": [], "next_page_token": None}


@router.get("/project/{vcs}/{org}/{repo}/{job_number}/tests")
async def get_job_tests(
    vcs: str,
    org: str,
    repo: str,
    job_number: JobNumber,
    _: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    await _check_job(svc, vcs, org, repo, job_number)
    return {"items": [], "next_page_token": None}
