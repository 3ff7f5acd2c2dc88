"""/api/v2/organizations/{org_id}/members (Rondo): who works in an organization.

An organization that lists nobody is open to every user, as all organizations were before; once an
administrator lists members, only they (and administrators) see it in `/me/collaborations`, see its
private orbs and publish to its orb namespace. Anyone signed in may read the list.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from rondo.ops.audit import Origin
from rondo.server import lookups
from rondo.server.actions import admin_origin, api_errors
from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["Organization"])


@router.get("/organizations/{org_id}/members")
async def list_members(org_id: str, _: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    """The listed members; `open` is true while the list is empty and every user works in the organization."""
    with api_errors():
        members = await svc.memberships.members(lookups.parse_uuid(org_id, "Organization"))
    items: list[dict[str, Any]] = [{"id": str(u.id), "login": u.login, "name": u.name} for u in members]
    return {"items": items, "open": not items, "next_page_token": None}


@router.put("/organizations/{org_id}/members/{login}")
async def add_member(
    org_id: str, login: str, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, str]:
    with api_errors():
        added = await svc.memberships.add(lookups.parse_uuid(org_id, "Organization"), login, origin)
    return {"message": f"{login} {'added to' if added else 'is already a member of'} the organization."}


@router.delete("/organizations/{org_id}/members/{login}")
async def remove_member(
    org_id: str, login: str, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, str]:
    with api_errors():
        await svc.memberships.remove(lookups.parse_uuid(org_id, "Organization"), login, origin)
    return {"message": f"{login} removed from the organization."}
