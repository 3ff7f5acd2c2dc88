"""/api/v2/project/{slug}: follow a repository, read a project."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from rondo.engine.projects import ProjectExists
from rondo.server import lookups
from rondo.server.actions import origin_of
from rondo.server.api_v2.checkout_keys import checkout_key_json
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import pipeline_json, project_json
from rondo.store import projects as project_q
from rondo.store.models import User
from rondo.vcs import VcsError

router = APIRouter(prefix="/api/v2", tags=["Project"])


class FollowRequest(BaseModel):
    vcs_url: str = Field(min_length=1, max_length=2000, description="A git URL or a path on the server")


@router.post("/project/{vcs}/{org}/{repo}", status_code=201)
async def follow_project(
    vcs: str,
    org: str,
    repo: str,
    body: FollowRequest,
    request: Request,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Follow a git repository (Rondo): it builds its default branch now and every new commit after.

    An SSH repository the server cannot read yet is followed with a new deploy key (`checkout_key`) to
    add to it, and a `message` saying so."""
    slug = lookups.parse_slug(vcs, org, repo)
    try:
        followed = await svc.projects.follow(slug, body.vcs_url, user.login, origin_of(user, request))
    except ProjectExists as exc:
        raise ApiError(409, str(exc)) from None
    except VcsError as exc:
        raise ApiError(400, f"cannot read the repository at {body.vcs_url}: {exc}") from None
    project, pipeline = followed.project, followed.pipeline
    async with svc.db.session() as session:
        org_row = await project_q.organization(session, project.organization_id)
    result = project_json(project, org_row.name, str(org_row.id))
    result["first_pipeline"] = pipeline_json(pipeline, project) if pipeline else None
    if followed.checkout_key is not None:
        # An SSH repository the server cannot read yet: the deploy key to add to it.
        result["checkout_key"] = checkout_key_json(followed.checkout_key, True, None)
        result["message"] = (
            f"Rondo cannot read {body.vcs_url} yet ({followed.unreadable}). Add this deploy key to the "
            "repository (read access is enough to build): it builds the default branch once it can read it."
        )
    return result


@router.get("/project/{vcs}/{org}/{repo}")
async def get_project(
    vcs: str, org: str, repo: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        org_row = await project_q.organization(session, project.organization_id)
        return project_json(project, org_row.name, str(org_row.id))
