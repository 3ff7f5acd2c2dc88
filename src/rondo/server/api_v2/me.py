"""/api/v2/me: who the token belongs to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.store import projects as project_q
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["User"])


@router.get("/me")
async def me(user: User = Depends(current_user)) -> dict[str, Any]:
    return {"id": str(user.id), "login": user.login, "name": user.name, "avatar_url": None}


VCS_TYPES = {"gh": "github", "bb": "bitbucket", "circleci": "circleci"}


@router.get("/me/collaborations")
async def collaborations(_: User = Depends(current_user), svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """The organizations of this server: every user of a self-hosted server works in all of them."""
    async with svc.db.session() as session:
        orgs = await project_q.all_organizations(session)
    return [
        {
            "id": str(org.id),
            "vcs-type": VCS_TYPES.get(org.vcs, org.vcs),
            "name": org.name,
            "avatar_url": "",
            "slug": org.slug,
        }
        for org in orgs
    ]
