"""/api/v2 schedules (scheduled pipelines): list and create per project, read, change, delete by id."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.engine.schedules import (
    SYSTEM_ACTOR_ID,
    SYSTEM_ACTOR_LOGIN,
    SYSTEM_ACTOR_NAME,
    ScheduleError,
    ScheduleExists,
    ScheduleSpec,
)
from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store import schedules as schedule_q
from rondo.store.models import Project, Schedule, User

router = APIRouter(prefix="/api/v2", tags=["Schedule"])

PAGE_SIZE = 20
TIMETABLE_DOC = (
    "When the schedule runs, in UTC: per-hour (1-60), hours-of-day (0-23), days-of-week (MON..SUN) "
    "or days-of-month (1-31), and optionally months (JAN..DEC)."
)
PARAMETERS_DOC = "Pipeline parameters (string, integer or boolean values); must contain branch or tag."
TIMETABLE_EXAMPLE = {"per-hour": 1, "hours-of-day": [3], "days-of-week": ["MON", "WED", "FRI"]}
TEXT = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL characters


class CreateScheduleRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=TEXT)
    timetable: dict[str, Any] = Field(description=TIMETABLE_DOC, examples=[TIMETABLE_EXAMPLE])
    attribution_actor: Literal["current", "system"] = Field(alias="attribution-actor")
    parameters: dict[str, Any] = Field(description=PARAMETERS_DOC, examples=[{"branch": "main"}])
    description: str | None = Field(None, max_length=2000, pattern=TEXT)


class UpdateScheduleRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200, pattern=TEXT)
    timetable: dict[str, Any] | None = Field(None, description=TIMETABLE_DOC, examples=[TIMETABLE_EXAMPLE])
    attribution_actor: Literal["current", "system"] | None = Field(None, alias="attribution-actor")
    parameters: dict[str, Any] | None = Field(None, description=PARAMETERS_DOC)
    description: str | None = Field(None, max_length=2000, pattern=TEXT)

    @model_validator(mode="after")
    def _only_description_may_be_null(self) -> UpdateScheduleRequest:
        for field in ("name", "timetable", "attribution_actor", "parameters"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field.replace('_', '-')} cannot be null; leave it out to keep it")
        return self


@router.get("/project/{vcs}/{org}/{repo}/schedule")
async def list_schedules(
    vcs: str,
    org: str,
    repo: str,
    page_token: str | None = Query(None, alias="page-token"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    after = _decode_after(page_token)
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        rows = await schedule_q.schedules_page(session, project.id, after=after, limit=PAGE_SIZE + 1)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        items = [await _schedule_json(session, s, project) for s in rows]
    last = rows[-1] if rows else None
    token = lookups.encode_page_token(f"{last.created_at.isoformat()}|{last.id}") if more and last else None
    return {"items": items, "next_page_token": token}


@router.post("/project/{vcs}/{org}/{repo}/schedule", status_code=201)
async def create_schedule(
    vcs: str,
    org: str,
    repo: str,
    body: CreateScheduleRequest,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
    spec = ScheduleSpec(
        name=body.name,
        timetable=body.timetable,
        attribution_actor=body.attribution_actor,
        parameters=body.parameters,
        description=body.description,
    )
    try:
        schedule = await svc.schedules.create(project.id, spec, user)
    except ScheduleError as exc:
        raise ApiError(400, str(exc)) from None
    except ScheduleExists as exc:
        raise ApiError(409, str(exc)) from None
    async with svc.db.session() as session:
        return await _schedule_json(session, schedule, project)


@router.get("/schedule/{schedule_id}")
async def get_schedule(
    schedule_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    async with svc.db.session() as session:
        schedule, project = await lookups.schedule(session, user, schedule_id)
        return await _schedule_json(session, schedule, project)


@router.patch("/schedule/{schedule_id}")
async def update_schedule(
    schedule_id: str,
    body: UpdateScheduleRequest,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    async with svc.db.session() as session:
        found, project = await lookups.schedule(session, user, schedule_id)
    try:
        schedule = await svc.schedules.update(found.id, changes, user)
    except ScheduleError as exc:
        raise ApiError(400, str(exc)) from None
    except ScheduleExists as exc:
        raise ApiError(409, str(exc)) from None
    if schedule is None:
        raise ApiError(404, "Schedule not found")
    async with svc.db.session() as session:
        return await _schedule_json(session, schedule, project)


@router.delete("/schedule/{schedule_id}")
async def delete_schedule(
    schedule_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, str]:
    async with svc.db.session() as session:
        found, _project = await lookups.schedule(session, user, schedule_id)
    if not await svc.schedules.delete(found.id):
        raise ApiError(404, "Schedule not found")
    return {"message": "Schedule deleted."}


async def _schedule_json(session: AsyncSession, schedule: Schedule, project: Project) -> dict[str, Any]:
    """A schedule as CircleCI shows it; the actor is the scheduling system or the user it runs as."""
    if schedule.attribution_actor == "system":
        actor = {"id": str(SYSTEM_ACTOR_ID), "login": SYSTEM_ACTOR_LOGIN, "name": SYSTEM_ACTOR_NAME}
    else:
        user = await session.get(User, schedule.actor_id) if schedule.actor_id else None
        actor = {
            "id": str(schedule.actor_id or ""),
            "login": user.login if user else schedule.actor_login,
            "name": user.name if user else schedule.actor_login,
        }
    return {
        "id": str(schedule.id),
        "name": schedule.name,
        "description": schedule.description,
        "timetable": schedule.timetable,
        "parameters": schedule.parameters,
        "actor": {**actor, "avatar_url": None},
        "project-slug": project.slug,
        "created-at": iso(schedule.created_at),
        "updated-at": iso(schedule.updated_at),
    }


def _decode_after(page_token: str | None) -> tuple[datetime, uuid.UUID] | None:
    value = lookups.decode_page_token(page_token)
    if value is None:
        return None
    created, _, last_id = value.partition("|")
    try:
        after = datetime.fromisoformat(created), uuid.UUID(last_id)
    except ValueError:
        raise ApiError(400, "page-token is not a token this server issued") from None
    if after[0].tzinfo is None:
        raise ApiError(400, "page-token is not a token this server issued")
    return after
