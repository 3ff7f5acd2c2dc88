"""v1.1 recent builds: of one project, of one branch (`/tree/:branch`), and across all projects.

Bare arrays, newest first, paged by `limit` (1-100, default 30) and `offset`. `filter` is one of
completed, successful, failed, running; other values filter nothing, as clients send `filter=None`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from rondo.server import lookups
from rondo.server.api_v1.build_json import FILTERS, build_summary
from rondo.server.api_v1.build_rows import load_builds
from rondo.server.auth import Caller, current_user, status_reader
from rondo.server.services import Services, services
from rondo.store import pipelines as pipeline_q
from rondo.store.models import User

router = APIRouter(prefix="/api/v1.1", tags=["v1.1"])

MAX_OFFSET = 1_000_000_000


async def _builds(
    svc: Services,
    who: lookups.Viewer,
    project_slug: tuple[str, str, str] | None,
    branch: str | None,
    limit: int,
    offset: int,
    filter: str | None,
    shallow: str | None,
) -> list[dict[str, Any]]:
    async with svc.db.session() as session:
        project = await lookups.project(session, who, *project_slug) if project_slug else None
        if branch is not None and "\x00" in branch:
            return []  # git allows no NUL in a branch name (and PostgreSQL none in a string)
        rows = await pipeline_q.numbered_jobs(
            session,
            project_id=project.id if project else None,
            branch=branch,
            statuses=FILTERS.get(filter or ""),
            offset=offset,
            limit=limit,
            member=lookups.member_filter(who) if project is None and isinstance(who, User) else None,
        )
        builds = await load_builds(session, rows, shallow=lookups.query_flag(shallow))
    public = svc.settings.resolved_public_url
    return [build_summary(b, public, shallow=lookups.query_flag(shallow)) for b in builds]


@router.get("/project/{vcs}/{org}/{repo}/tree/{branch:path}")
async def branch_builds(
    vcs: str,
    org: str,
    repo: str,
    branch: str,
    limit: int = Query(30, ge=1, le=100),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    filter: str | None = None,
    shallow: str | None = None,
    caller: Caller = Depends(status_reader),
    svc: Services = Depends(services),
) -> list[dict[str, Any]]:
    """Recent builds of one branch; everything after `/tree/` is the branch, slashes included.

    A project API token of any scope reads them (build statuses).
    """
    return await _builds(svc, caller.viewer, (vcs, org, repo), branch, limit, offset, filter, shallow)


@router.get("/project/{vcs}/{org}/{repo}")
async def project_builds(
    vcs: str,
    org: str,
    repo: str,
    limit: int = Query(30, ge=1, le=100),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    filter: str | None = None,
    shallow: str | None = None,
    caller: Caller = Depends(status_reader),
    svc: Services = Depends(services),
) -> list[dict[str, Any]]:
    return await _builds(svc, caller.viewer, (vcs, org, repo), None, limit, offset, filter, shallow)


@router.get("/recent-builds")
async def recent_builds(
    limit: int = Query(30, ge=1, le=100),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    shallow: str | None = None,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> list[dict[str, Any]]:
    """Recent builds of every project of the organizations the caller works in, newest first."""
    return await _builds(svc, user, None, None, limit, offset, None, shallow)
