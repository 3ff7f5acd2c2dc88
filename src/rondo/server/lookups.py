"""Find what a URL names, or answer 404 in CircleCI's words."""

from __future__ import annotations

import base64
import binascii
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.slugs import ProjectSlug, SlugError
from rondo.server.errors import ApiError
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store.models import Job, Organization, Pipeline, Project, Workflow

MAX_NUMBER = 2**31 - 1  # pipeline, job and step numbers are 32-bit integer columns


def parse_slug(vcs: str, org: str, repo: str) -> ProjectSlug:
    try:
        return ProjectSlug.parse(f"{vcs}/{org}/{repo}")
    except SlugError as exc:
        raise ApiError(400, str(exc)) from None


def query_flag(value: str | None) -> bool:
    """A boolean query parameter as clients send it: `true`, `True` (pycircleci), `1`."""
    return (value or "").strip().lower() in ("true", "1", "yes")


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(404, f"{what} not found") from None


async def project(session: AsyncSession, vcs: str, org: str, repo: str) -> Project:
    found = await project_q.project_by_slug(session, parse_slug(vcs, org, repo).short)
    if found is None:
        raise ApiError(404, "Project not found")
    return found


async def project_and_organization(
    session: AsyncSession, vcs: str, org: str, repo: str
) -> tuple[Project, Organization]:
    """The project with its organization, in one query (what triggering a pipeline needs)."""
    found = await project_q.project_and_organization_by_slug(session, parse_slug(vcs, org, repo).short)
    if found is None:
        raise ApiError(404, "Project not found")
    return found


async def pipeline(session: AsyncSession, pipeline_id: str) -> tuple[Pipeline, Project]:
    found = await pipeline_q.pipeline_by_id(session, parse_uuid(pipeline_id, "Pipeline"))
    if found is None:
        raise ApiError(404, "Pipeline not found")
    proj = await project_q.project_by_id(session, found.project_id)
    assert proj is not None
    return found, proj


async def workflow(session: AsyncSession, workflow_id: str) -> tuple[Workflow, Pipeline, Project]:
    found = await pipeline_q.workflow_by_id(session, parse_uuid(workflow_id, "Workflow"))
    if found is None:
        raise ApiError(404, "Workflow not found")
    pipe, proj = await pipeline(session, str(found.pipeline_id))
    return found, pipe, proj


async def job_by_number(session: AsyncSession, proj: Project, number: int) -> tuple[Job, Workflow, Pipeline]:
    job = await pipeline_q.job_by_number(session, proj.id, number)
    if job is None:
        raise ApiError(404, "Job not found")
    wf, pipe, _ = await workflow(session, str(job.workflow_id))
    return job, wf, pipe


def encode_page_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_page_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text; UnicodeDecodeError is one too
        raise ApiError(400, "page-token is not a token this server issued") from None
