"""Find what a URL names, or answer 404 in CircleCI's words.

Whatever belongs to a project is found for someone (`Viewer`): a user who does not work in the project's
organization (store/organization_members.py), or a project API token of another project, gets the same
404 as if it did not exist. The membership test rides along in the query that finds the thing.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.slugs import ProjectSlug, SlugError
from rondo.engine.project_tokens import ProjectGrant
from rondo.server.errors import ApiError
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store import schedules as schedule_q
from rondo.store import webhooks as webhook_q
from rondo.store.models import Job, Organization, Pipeline, Project, Schedule, User, Workflow

Viewer = User | ProjectGrant  # who asks: a user (personal token, session) or a project API token
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


def _user_id(who: Viewer) -> uuid.UUID | None:
    """The user whose membership the lookup queries weigh (none for administrators and project tokens)."""
    return who.id if isinstance(who, User) and not who.is_admin else None


def may_see(who: Viewer, project: Project, works_in: bool) -> bool:
    """Administrators see every project; a user those of organizations they work in; a project API
    token its own project."""
    if isinstance(who, ProjectGrant):
        return who.project_id == project.id
    return who.is_admin or works_in


def member_filter(user: User) -> uuid.UUID | None:
    """Whose organizations a list spanning projects keeps (None: every project, for administrators)."""
    return None if user.is_admin else user.id


async def project(session: AsyncSession, who: Viewer, vcs: str, org: str, repo: str) -> Project:
    """The project, if `who` may see it; else 404 as if it did not exist."""
    found = await project_q.project_by_slug_for(session, parse_slug(vcs, org, repo).short, _user_id(who))
    if found is None or not may_see(who, *found):
        raise ApiError(404, "Project not found")
    return found[0]


async def project_by_id(
    session: AsyncSession, who: Viewer, project_id: uuid.UUID, not_found: str = "Project not found"
) -> Project:
    found = await project_q.project_by_id_for(session, project_id, _user_id(who))
    if found is None or not may_see(who, *found):
        raise ApiError(404, not_found)
    return found[0]


async def project_of_job(session: AsyncSession, who: Viewer, job_id: uuid.UUID, not_found: str) -> Project:
    found = await project_q.project_of_job_for(session, job_id, _user_id(who))
    if found is None or not may_see(who, *found):
        raise ApiError(404, not_found)
    return found[0]


async def project_and_organization(
    session: AsyncSession, who: Viewer, vcs: str, org: str, repo: str
) -> tuple[Project, Organization]:
    """The project with its organization, and whether `who` may see it, in one query (all that triggering
    a pipeline reads)."""
    found = await project_q.project_and_organization_by_slug(session, parse_slug(vcs, org, repo).short, _user_id(who))
    if found is None or not may_see(who, found[0], found[2]):
        raise ApiError(404, "Project not found")
    return found[0], found[1]


async def pipeline(session: AsyncSession, who: Viewer, pipeline_id: str) -> tuple[Pipeline, Project]:
    found = await pipeline_q.pipeline_for(session, parse_uuid(pipeline_id, "Pipeline"), _user_id(who))
    if found is None or not may_see(who, found[1], found[2]):
        raise ApiError(404, "Pipeline not found")
    return found[0], found[1]


async def workflow(session: AsyncSession, who: Viewer, workflow_id: str) -> tuple[Workflow, Pipeline, Project]:
    found = await pipeline_q.workflow_for(session, parse_uuid(workflow_id, "Workflow"), _user_id(who))
    if found is None or not may_see(who, found[2], found[3]):
        raise ApiError(404, "Workflow not found")
    return found[0], found[1], found[2]


async def job_by_number(session: AsyncSession, proj: Project, number: int) -> tuple[Job, Workflow, Pipeline]:
    """A job of a project the caller was already let see (by `project`)."""
    job = await pipeline_q.job_by_number(session, proj.id, number)
    if job is None:
        raise ApiError(404, "Job not found")
    wf, pipe, _, _ = await pipeline_q.lineage(session, job.workflow_id)
    return job, wf, pipe


async def schedule(session: AsyncSession, who: Viewer, schedule_id: str) -> tuple[Schedule, Project]:
    found = await schedule_q.schedule_for(session, parse_uuid(schedule_id, "Schedule"), _user_id(who))
    if found is None or not may_see(who, found[1], found[2]):
        raise ApiError(404, "Schedule not found")
    return found[0], found[1]


async def webhook_project(session: AsyncSession, who: Viewer, webhook_id: str) -> Project:
    """The project of a webhook, if `who` may see it (404 "Webhook not found" otherwise)."""
    found = await webhook_q.project_of_webhook_for(session, parse_uuid(webhook_id, "Webhook"), _user_id(who))
    if found is None or not may_see(who, *found):
        raise ApiError(404, "Webhook not found")
    return found[0]


def encode_page_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_page_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text; UnicodeDecodeError is one too
        raise ApiError(400, "page-token is not a token this server issued") from None
