"""Audit events: appended, and read back in time order. Nothing here updates or deletes one (nor may the DB)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import AuditEvent


def append(session: AsyncSession, event: AuditEvent) -> None:
    session.add(event)


async def events_page(
    session: AsyncSession,
    *,
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    action: str | None = None,
) -> list[AuditEvent]:
    """Events with start <= occurred_at < end, oldest first, after the (occurred_at, id) of the last page."""
    stmt = select(AuditEvent).order_by(AuditEvent.occurred_at, AuditEvent.id).limit(limit)
    if start is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= start)
    if end is not None:
        stmt = stmt.where(AuditEvent.occurred_at < end)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if after is not None:
        at, ident = after
        stmt = stmt.where(or_(AuditEvent.occurred_at > at, and_(AuditEvent.occurred_at == at, AuditEvent.id > ident)))
    return list((await session.execute(stmt)).scalars())


async def latest(session: AsyncSession, limit: int) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())
