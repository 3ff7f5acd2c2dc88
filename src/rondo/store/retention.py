"""Queries the janitor uses to find step output older than the Storage Object Expiry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Step


async def steps_with_output_before(session: AsyncSession, before: datetime, limit: int) -> list[Step]:
    query = (
        select(Step)
        .where(Step.output_key.is_not(None), Step.stopped_at < before)
        .order_by(Step.stopped_at)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
