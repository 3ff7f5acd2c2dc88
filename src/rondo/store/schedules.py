"""Queries on schedules (scheduled pipelines): by id, a project's page of them, the ones due to fire."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Project, Schedule
from rondo.store.projects import works_in_project


async def schedule_by_id(session: AsyncSession, schedule_id: uuid.UUID) -> Schedule | None:
    return await session.get(Schedule, schedule_id)


_SCHEDULE_FOR = (
    select(Schedule, Project, works_in_project())
    .join(Project, Project.id == Schedule.project_id)
    .where(Schedule.id == bindparam("schedule_id"))
)


async def schedule_for(
    session: AsyncSession, schedule_id: uuid.UUID, user_id: uuid.UUID | None
) -> tuple[Schedule, Project, bool] | None:
    """A schedule, its project and whether the user works in the project's organization, in one query."""
    row = (await session.execute(_SCHEDULE_FOR, {"schedule_id": schedule_id, "user_id": user_id})).first()
    return (row[0], row[1], bool(row[2])) if row is not None else None


async def schedule_by_name(session: AsyncSession, project_id: uuid.UUID, name: str) -> Schedule | None:
    stmt = select(Schedule).where(Schedule.project_id == project_id, Schedule.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def schedules_page(
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 20,
) -> list[Schedule]:
    """Oldest first, paged by (created_at, id): `after` is the last row of the previous page."""
    stmt = select(Schedule).where(Schedule.project_id == project_id)
    if after is not None:
        created, last_id = after
        stmt = stmt.where(
            or_(Schedule.created_at > created, and_(Schedule.created_at == created, Schedule.id > last_id))
        )
    stmt = stmt.order_by(Schedule.created_at, Schedule.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def due_schedules(session: AsyncSession, now: datetime, *, limit: int = 100) -> list[Schedule]:
    """Schedules whose next run is at or before `now`, locked so that only one replica fires each.

    PostgreSQL skips rows another transaction holds; SQLite has one writer at a time (BEGIN IMMEDIATE).
    """
    stmt = (
        select(Schedule)
        .where(Schedule.next_run_at <= now)
        .order_by(Schedule.next_run_at, Schedule.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


async def earliest_next_run(session: AsyncSession) -> datetime | None:
    stmt = select(Schedule.next_run_at).order_by(Schedule.next_run_at).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()
