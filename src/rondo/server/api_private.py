"""/api/private: the undocumented reads CircleCI's MCP server makes (followed projects; raw output in api_v1.builds)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from rondo.domain.slugs import ProjectSlug
from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store import projects as project_q
from rondo.store.models import User

router = APIRouter(prefix="/api/private", tags=["private"])

PAGE_SIZE = 100


@router.get("/me/followed-projects")
async def followed_projects(
    page_token: str | None = Query(None, alias="page-token"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Every project the caller may see (users follow all of them), by slug, a page at a time."""
    after = lookups.decode_page_token(page_token)
    if page_token and not after:
        raise ApiError(400, "page-token is not a token this server issued")
    async with svc.db.session() as session:
        rows = await project_q.projects_after(session, after, PAGE_SIZE + 1, lookups.member_filter(user))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    items = []
    for project in rows:
        slug = ProjectSlug.parse(project.slug)
        items.append({"name": slug.repo, "slug": slug.short, "vcs_type": slug.vcs_type})
    return {"items": items, "next_page_token": lookups.encode_page_token(rows[-1].slug) if more else None}
