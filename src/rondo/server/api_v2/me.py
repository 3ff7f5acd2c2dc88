"""/api/v2/me: who the token belongs to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["User"])


@router.get("/me")
async def me(user: User = Depends(current_user)) -> dict[str, Any]:
    return {"id": str(user.id), "login": user.login, "name": user.name, "avatar_url": None}


VCS_TYPES = {"gh": "github", "bb": "bitbucket", "circleci": "circleci"}


@router.get("/me/collaborations")
async def collaborations(user: User = Depends(current_user), svc: Services = Depends(services)) -> list[dict[str, Any]]:
    """The organizations the caller works in: all that list no members, and those that list them."""
    orgs = await svc.memberships.organizations_of(user)
    return [
        {
            "id": str(org.id),
            "vcs-type": VCS_TYPES.get(org.vcs, org.vcs),
            "vcs_type": VCS_TYPES.get(org.vcs, org.vcs),  # what real responses and the CircleCI CLI use
            "name": org.name,
            "avatar_url": "",
            "slug": org.slug,
        }
        for org in orgs
    ]
