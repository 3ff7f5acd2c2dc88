"""/api/v2/context: contexts, their environment variables (names only, never values) and restrictions."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from rondo.engine.contexts import owner_organization
from rondo.ops.audit import Origin
from rondo.server import lookups
from rondo.server.actions import admin_origin, api_errors, user_origin
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import Context, ContextEnvVar, ContextRestriction, User

router = APIRouter(prefix="/api/v2", tags=["Context"])

PAGE_SIZE = 50


class Owner(BaseModel):
    id: str | None = None
    slug: str | None = None
    type: str = "organization"


class CreateContextRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    owner: Owner


class EnvVarValue(BaseModel):
    value: str


class RestrictionRequest(BaseModel):
    restriction_type: str = Field(description="group (a security group's id) or project (a project's id)")
    restriction_value: str


def context_json(ctx: Context) -> dict[str, Any]:
    return {"id": str(ctx.id), "name": ctx.name, "created_at": iso(ctx.created_at)}


def env_var_json(row: ContextEnvVar) -> dict[str, Any]:
    return {
        "variable": row.name,
        "context_id": str(row.context_id),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def restriction_json(row: ContextRestriction) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(row.id),
        "context_id": str(row.context_id),
        "restriction_type": row.restriction_type,
        "restriction_value": row.restriction_value,
        "name": row.name,
    }
    if row.restriction_type == "project":
        body["project_id"] = row.restriction_value
    return body


def _context_id(value: str) -> uuid.UUID:
    return lookups.parse_uuid(value, "context")


@router.get("/context")
async def list_contexts(
    owner_id: str | None = Query(None, alias="owner-id"),
    owner_slug: str | None = Query(None, alias="owner-slug"),
    owner_type: str | None = Query(None, alias="owner-type"),
    page_token: str | None = Query(None, alias="page-token"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """The contexts of an organization (`owner-id` or `owner-slug`, e.g. `gh/acme` or `github/acme`)."""
    with api_errors():
        org = await owner_organization(svc.db, owner_id, owner_slug)
    if org is None:
        return {"items": [], "next_page_token": None}
    token = lookups.decode_page_token(page_token)
    offset = int(token) if token and token.isdigit() else 0
    with api_errors():
        rows = await svc.contexts.list_all(org.id, user, offset, PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    return {
        "items": [context_json(c) for c in rows[:PAGE_SIZE]],
        "next_page_token": lookups.encode_page_token(str(offset + PAGE_SIZE)) if more else None,
    }


@router.post("/context")
async def create_context(
    body: CreateContextRequest,
    user: User = Depends(current_user),
    origin: Origin = Depends(user_origin),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    with api_errors():
        org = await owner_organization(svc.db, body.owner.id, body.owner.slug, create=True)
        if org is None:
            raise ApiError(404, "Organization not found")
        ctx = await svc.contexts.create(org, body.name, user, origin)
    return context_json(ctx)


@router.get("/context/{context_id}")
async def get_context(context_id: str, user: User = Depends(current_user), svc: Services = Depends(services)) -> Any:
    with api_errors():
        return context_json(await svc.contexts.get(_context_id(context_id), user))


@router.delete("/context/{context_id}")
async def delete_context(
    context_id: str,
    user: User = Depends(current_user),
    origin: Origin = Depends(user_origin),
    svc: Services = Depends(services),
) -> dict[str, str]:
    with api_errors():
        await svc.contexts.delete(_context_id(context_id), user, origin)
    return {"message": "Context deleted."}


@router.get("/context/{context_id}/environment-variable")
async def list_context_env_vars(
    context_id: str,
    page_token: str | None = Query(None, alias="page-token"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """The variables' names and dates; values are never returned."""
    with api_errors():
        rows = await svc.contexts.env_vars(_context_id(context_id), user)
    return {"items": [env_var_json(r) for r in rows], "next_page_token": None}


@router.put("/context/{context_id}/environment-variable/{name}")
async def put_context_env_var(
    context_id: str,
    name: str,
    body: EnvVarValue,
    user: User = Depends(current_user),
    origin: Origin = Depends(user_origin),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    with api_errors():
        row = await svc.contexts.put_env_var(_context_id(context_id), name, body.value, user, origin)
    return env_var_json(row)


@router.delete("/context/{context_id}/environment-variable/{name}")
async def delete_context_env_var(
    context_id: str,
    name: str,
    user: User = Depends(current_user),
    origin: Origin = Depends(user_origin),
    svc: Services = Depends(services),
) -> dict[str, str]:
    with api_errors():
        await svc.contexts.delete_env_var(_context_id(context_id), name, user, origin)
    return {"message": "Environment variable deleted."}


@router.get("/context/{context_id}/restrictions")
async def list_restrictions(
    context_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    with api_errors():
        rows = await svc.contexts.restrictions(_context_id(context_id), user)
    return {"items": [restriction_json(r) for r in rows], "next_page_token": None}


@router.post("/context/{context_id}/restrictions", status_code=201)
async def create_restriction(
    context_id: str,
    body: RestrictionRequest,
    origin: Origin = Depends(admin_origin),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Restrict the context to a security group or a project (administrators)."""
    with api_errors():
        row = await svc.contexts.add_restriction(
            _context_id(context_id), body.restriction_type, body.restriction_value, origin
        )
    return restriction_json(row)


@router.delete("/context/{context_id}/restrictions/{restriction_id}")
async def delete_restriction(
    context_id: str,
    restriction_id: str,
    origin: Origin = Depends(admin_origin),
    svc: Services = Depends(services),
) -> dict[str, str]:
    with api_errors():
        await svc.contexts.delete_restriction(
            _context_id(context_id), lookups.parse_uuid(restriction_id, "restriction"), origin
        )
    return {"message": "Context restriction deleted."}
