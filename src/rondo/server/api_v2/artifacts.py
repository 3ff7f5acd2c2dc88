"""/api/v2/project/{slug}/{job-number}/artifacts and /tests: what a job stored; and artifact downloads.

An artifact's `url` is `<server>/output/job/<job id>/artifacts/<node>/<path>`. It takes a token in any
form clients send one (the `Circle-Token` header, `?circle-token=`, Basic, Bearer) and redirects to
a short-lived presigned URL of the object store, so the bytes never pass through the server.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import RedirectResponse

from rondo.domain.project_tokens import VIEW_BUILDS
from rondo.server import lookups
from rondo.server.auth import Caller, api_caller, current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store.models import Artifact, Job, JobTestResult, User

router = APIRouter(tags=["Job"])

JobNumber = Annotated[int, Path(ge=0, le=lookups.MAX_NUMBER)]
TESTS_PAGE = 1000


async def job_of(svc: Services, user: User, vcs: str, org: str, repo: str, number: int) -> Job:
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        job, _, _ = await lookups.job_by_number(session, project, number)
    return job


def artifact_url(public_url: str, artifact: Artifact) -> str:
    return f"{public_url}/output/job/{artifact.job_id}/artifacts/{artifact.node_index}/{quote(artifact.path)}"


def artifact_items(svc: Services, artifacts: list[Artifact]) -> list[dict[str, Any]]:
    public = svc.settings.resolved_public_url
    return [{"path": a.path, "node_index": a.node_index, "url": artifact_url(public, a)} for a in artifacts]


def test_item(row: JobTestResult) -> dict[str, Any]:
    item: dict[str, Any] = {
        "message": row.message or "",
        "source": row.source or "unknown",
        "run_time": row.run_time,
        "result": row.result,
        "name": row.name,
        "classname": row.classname,
    }
    if row.file:
        item["file"] = row.file
    return item


@router.get("/api/v2/project/{vcs}/{org}/{repo}/{job_number}/artifacts")
async def get_job_artifacts(
    vcs: str,
    org: str,
    repo: str,
    job_number: JobNumber,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    job = await job_of(svc, user, vcs, org, repo, job_number)
    return {"items": artifact_items(svc, await svc.storage.artifacts_of(job.id)), "next_page_token": None}


@router.get("/api/v2/project/{vcs}/{org}/{repo}/{job_number}/tests")
async def get_job_tests(
    vcs: str,
    org: str,
    repo: str,
    job_number: JobNumber,
    page_token: str | None = Query(None, alias="page-token"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    job = await job_of(svc, user, vcs, org, repo, job_number)
    start = lookups.decode_page_token(page_token) or "0"
    if not start.isdigit():
        raise ApiError(400, "page-token is not a token this server issued")
    rows = await svc.storage.tests_of(job.id, int(start), TESTS_PAGE + 1)
    more = len(rows) > TESTS_PAGE
    return {
        "items": [test_item(r) for r in rows[:TESTS_PAGE]],
        "next_page_token": lookups.encode_page_token(str(int(start) + TESTS_PAGE)) if more else None,
    }


@router.get("/output/job/{job_id}/artifacts/{node_index}/{path:path}", include_in_schema=False)
async def download_artifact(
    job_id: str,
    node_index: Annotated[int, Path(ge=0, le=lookups.MAX_NUMBER)],
    path: str,
    caller: Caller = Depends(api_caller),
    svc: Services = Depends(services),
) -> RedirectResponse:
    """A personal token of someone who works in the project's organization, or a project API token of the
    artifact's project that may view builds."""
    try:
        job_uuid = uuid.UUID(job_id)
    except ValueError:
        raise ApiError(404, "Artifact not found") from None
    artifact = await svc.storage.artifact(job_uuid, node_index, path)
    if artifact is None:
        raise ApiError(404, "Artifact not found")
    async with svc.db.session() as session:
        project = await lookups.project_of_job(session, caller.viewer, job_uuid, "Artifact not found")
    caller.check(project.id, VIEW_BUILDS, not_found="Artifact not found")
    return RedirectResponse(svc.storage.download_url(artifact), status_code=302)
