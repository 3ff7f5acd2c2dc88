"""/api/v2/organizations/{org_id}/groups: security groups (CircleCI's shapes) and, Rondo's addition, members.

Anyone signed in may read them; administrators create, delete and fill them.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from rondo.ops.audit import Origin
from rondo.server import lookups
from rondo.server.actions import admin_origin, api_errors
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store.models import Group, Organization, User

router = APIRouter(prefix="/api/v2", tags=["Group"])


class CreateGroupRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""


def group_json(group: Group) -> dict[str, Any]:
    return {"id": str(group.id), "name": group.name, "description": group.description}


async def _org(svc: Services, org_id: str) -> uuid.UUID:
    ident = lookups.parse_uuid(org_id, "Organization")
    async with svc.db.session() as session:
        if await session.get(Organization, ident) is None:
            raise ApiError(404, "Organization not found")
    return ident


@router.get("/organizations/{org_id}/groups")
async def list_groups(org_id: str, _: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    groups = await svc.groups.list_all(await _org(svc, org_id))
    return {"items": [group_json(g) for g in groups], "next_page_token": None, "total_count": len(groups)}


@router.post("/organizations/{org_id}/groups", status_code=201)
async def create_group(
    org_id: str, body: CreateGroupRequest, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, Any]:
    with api_errors():
        return group_json(await svc.groups.create(await _org(svc, org_id), body.name, body.description, origin))


@router.get("/organizations/{org_id}/groups/{group_id}")
async def get_group(
    org_id: str, group_id: str, _: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    with api_errors():
        group, _members = await svc.groups.get(await _org(svc, org_id), lookups.parse_uuid(group_id, "Group"))
    return group_json(group)


@router.delete("/organizations/{org_id}/groups/{group_id}")
async def delete_group(
    org_id: str, group_id: str, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, str]:
    with api_errors():
        await svc.groups.delete(await _org(svc, org_id), lookups.parse_uuid(group_id, "Group"), origin)
    return {"message": "Group deleted."}


@router.get("/organizations/{org_id}/groups/{group_id}/members")
async def list_members(
    org_id: str, group_id: str, _: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    with api_errors():
        _group, members = await svc.groups.get(await _org(svc, org_id), lookups.parse_uuid(group_id, "Group"))
    return {"items": [{"id": str(u.id), "login": u.login, "name": u.name} for u in members], "next_page_token": None}


@router.put("/organizations/{org_id}/groups/{group_id}/members/{login}")
async def add_member(
    org_id: str, group_id: str, login: str, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, str]:
    with api_errors():
        added = await svc.groups.add_member(
            await _org(svc, org_id), lookups.parse_uuid(group_id, "Group"), login, origin
        )
    return {"message": f"{login} {'added to' if added else 'is already in'} the group."}


@router.delete("/organizations/{org_id}/groups/{group_id}/members/{login}")
async def remove_member(
    org_id: str, group_id: str, login: str, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, str]:
    with api_errors():
        await svc.groups.remove_member(await _org(svc, org_id), lookups.parse_uuid(group_id, "Group"), login, origin)
    return {"message": f"{login} removed from the group."}
