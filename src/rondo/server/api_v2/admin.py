"""/api/v2/admin (Rondo; administrators only): user accounts, system settings, and the audit log as CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from rondo.ops.audit import Origin
from rondo.ops.audit_export import csv_stream
from rondo.server.actions import admin_origin, api_errors
from rondo.server.auth import admin_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import User

router = APIRouter(prefix="/api/v2/admin", tags=["Admin"])


class CreateUserRequest(BaseModel):
    login: str = Field(min_length=1, max_length=200)
    name: str = ""
    admin: bool = False


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "login": user.login,
        "name": user.name,
        "admin": user.is_admin,
        "suspended": user.suspended,
        "created_at": iso(user.created_at),
    }


@router.get("/users")
async def list_users(_: User = Depends(admin_user), svc: Services = Depends(services)) -> dict[str, Any]:
    return {"items": [user_json(u) for u in await svc.users.list_all()], "next_page_token": None}


@router.post("/users", status_code=201)
async def create_user(
    body: CreateUserRequest, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Create a user; the answer carries its first API token, shown this once."""
    with api_errors():
        user, token = await svc.users.create(body.login, body.name, body.admin, origin)
    return {**user_json(user), "token": token}


@router.post("/users/{login}/suspend")
async def suspend_user(login: str, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)) -> Any:
    with api_errors():
        return user_json(await svc.users.set_suspended(login, True, origin))


@router.post("/users/{login}/activate")
async def activate_user(login: str, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)) -> Any:
    with api_errors():
        return user_json(await svc.users.set_suspended(login, False, origin))


@router.get("/settings")
async def get_settings(_: User = Depends(admin_user), svc: Services = Depends(services)) -> dict[str, Any]:
    return await svc.system_settings.current()


@router.patch("/settings")
async def update_settings(
    body: dict[str, Any], origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, Any]:
    with api_errors():
        return await svc.system_settings.update(body, origin)


def parse_time(value: str | None, what: str) -> datetime | None:
    """An ISO-8601 date or time; without a zone it is UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        raise ApiError(400, f"{what} {value!r} is not an ISO-8601 time such as 2026-01-31T12:00:00Z") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def audit_csv_response(svc: Services, start: str | None, end: str | None) -> StreamingResponse:
    since, until = parse_time(start, "start"), parse_time(end, "end")
    if since and until and until <= since:
        raise ApiError(400, "end must be after start")
    name = f"audit-log-{(since or datetime(1970, 1, 1, tzinfo=UTC)):%Y%m%d}-{(until or datetime.now(UTC)):%Y%m%d}.csv"
    return StreamingResponse(
        csv_stream(svc.db, since, until),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/audit-log", response_class=StreamingResponse)
async def audit_log(
    start: str | None = Query(None, description="Events at or after this time (ISO-8601, UTC if no zone)"),
    end: str | None = Query(None, description="Events before this time"),
    _: User = Depends(admin_user),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """The audit log as CSV (nested fields as JSON), oldest first, streamed for any size."""
    return audit_csv_response(svc, start, end)
