"""/api/v2 pipeline lists beyond one project's: my pipelines of a project, and pipelines across projects.

"Mine" means pipelines the signed-in user started (by API, or by following a project). Pages hold 20
pipelines; `next_page_token` is null on the last page and goes back as `page-token`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from rondo.domain.slugs import ProjectSlug, SlugError
from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import pipeline_json
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store.models import Pipeline, User

router = APIRouter(prefix="/api/v2", tags=["Pipeline"])

PAGE_SIZE = 20
BAD_TOKEN = "page-token is not a token this server issued"


def _number_token(token: str | None) -> int | None:
    value = lookups.decode_page_token(token)
    if value is None:
        return None
    if not value.isdigit() or int(value) > lookups.MAX_NUMBER:
        raise ApiError(400, BAD_TOKEN)
    return int(value)


def _time_token(token: str | None) -> tuple[datetime, uuid.UUID] | None:
    value = lookups.decode_page_token(token)
    if value is None:
        return None
    created, _, pipeline_id = value.partition("|")
    try:
        when, last_id = datetime.fromisoformat(created), uuid.UUID(pipeline_id)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when.astimezone(UTC), last_id
    except (ValueError, OverflowError):
        raise ApiError(400, BAD_TOKEN) from None


def _time_token_of(pipeline: Pipeline) -> str:
    return lookups.encode_page_token(f"{pipeline.created_at.isoformat()}|{pipeline.id}")


def org_slug_of(text: str) -> str:
    """`gh/acme`, `github/acme` (URL-escaped or not) as Rondo stores it: `gh/acme`."""
    try:
        return ProjectSlug.parse(f"{text}/-").org_slug  # the vcs/org part follows the project-slug rules
    except SlugError:
        raise ApiError(400, f"org-slug {text!r} is not of the form vcs/org (for example gh/acme)") from None


@router.get("/project/{vcs}/{org}/{repo}/pipeline/mine")
async def list_my_project_pipelines(
    vcs: str,
    org: str,
    repo: str,
    page_token: str | None = Query(None, alias="page-token"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """The project's pipelines that the signed-in user started, newest first."""
    before = _number_token(page_token)
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        rows = await pipeline_q.pipelines_started_by(
            session, project.id, user.login, before_number=before, limit=PAGE_SIZE + 1
        )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return {
        "items": [pipeline_json(p, project) for p in rows],
        "next_page_token": lookups.encode_page_token(str(rows[-1].number)) if more else None,
    }


@router.get("/pipeline")
async def list_pipelines(
    org_slug: str | None = Query(None, alias="org-slug"),
    mine: str | None = None,
    page_token: str | None = Query(None, alias="page-token"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Pipelines of every project of an organization (of every project without `org-slug`), newest first;
    only of organizations the caller works in."""
    before = _time_token(page_token)
    async with svc.db.session() as session:
        project_ids = None
        if org_slug:
            wanted = org_slug_of(org_slug)
            projects = await project_q.all_projects(session, lookups.member_filter(user))
            project_ids = [p.id for p in projects if ProjectSlug.parse(p.slug).org_slug == wanted]
            if not project_ids:  # organizations come into being with their first project
                raise ApiError(404, "Organization not found")
        actor = user.login if lookups.query_flag(mine) else None
        rows = await pipeline_q.pipelines_of_projects(
            session, project_ids, actor=actor, before=before, limit=PAGE_SIZE + 1, member=lookups.member_filter(user)
        )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return {
        "items": [pipeline_json(p, project) for p, project in rows],
        "next_page_token": _time_token_of(rows[-1][0]) if more else None,
    }
