"""v1.1 /projects: every project of the organizations the caller works in with, per branch, its recent,
running, last good and last bad builds.

Branch names are URL-encoded in the `branches` keys, as CircleCI has always sent them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.slugs import ProjectSlug
from rondo.domain.status import JobStatus
from rondo.server import lookups
from rondo.server.api_v1.build_json import FILTERS, branch_build_json
from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store.models import Project, User

router = APIRouter(prefix="/api/v1.1", tags=["v1.1"])

RECENT_PER_BRANCH = 5
_NOT_SUCCESS = FILTERS["completed"] - {JobStatus.SUCCESS}


async def _branch(session: AsyncSession, project: Project, branch: str) -> dict[str, Any]:
    async def builds(statuses: frozenset[str] | None, limit: int) -> list[dict[str, Any]]:
        rows = await pipeline_q.numbered_jobs(
            session, project_id=project.id, branch=branch, statuses=statuses, limit=limit
        )
        return [branch_build_json(job, pipe) for job, _, pipe, _ in rows]

    recent_rows = await pipeline_q.numbered_jobs(session, project_id=project.id, branch=branch, limit=RECENT_PER_BRANCH)
    actors = await pipeline_q.users_by_login(session, {pipe.trigger_actor for _, _, pipe, _ in recent_rows})
    body: dict[str, Any] = {
        "pusher_logins": sorted(actors),
        "recent_builds": [branch_build_json(job, pipe) for job, _, pipe, _ in recent_rows],
        "running_builds": await builds(FILTERS["running"], 100),
    }
    for key, statuses in (("last_success", frozenset({JobStatus.SUCCESS})), ("last_non_success", _NOT_SUCCESS)):
        found = await builds(statuses, 1)
        if found:  # CircleCI leaves the key out when the branch has none
            body[key] = found[0]
    return body


async def _project(session: AsyncSession, project: Project) -> dict[str, Any]:
    slug = ProjectSlug.parse(project.slug)
    branches = await pipeline_q.branches_with_jobs(session, project.id)
    return {
        "vcs_url": project.vcs_url,
        "vcs_type": slug.vcs_type,
        "username": slug.org,
        "reponame": slug.repo,
        "default_branch": project.default_branch,
        "followed": True,
        "following": True,
        "oss": False,
        "branches": {quote(b, safe=""): await _branch(session, project, b) for b in branches},
    }


@router.get("/projects")
async def projects(user: User = Depends(current_user), svc: Services = Depends(services)) -> list[dict[str, Any]]:
    async with svc.db.session() as session:
        return [await _project(session, p) for p in await project_q.all_projects(session, lookups.member_filter(user))]
