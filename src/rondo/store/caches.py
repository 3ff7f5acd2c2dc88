"""Queries on saved caches: reserve a key (first writer wins), commit it, find the newest by prefix."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Cache


async def cache_by_key(session: AsyncSession, project_id: uuid.UUID, key: str) -> Cache | None:
    return await session.scalar(select(Cache).where(Cache.project_id == project_id, Cache.key == key))


async def cache_by_id(session: AsyncSession, cache_id: uuid.UUID) -> Cache | None:
    return await session.get(Cache, cache_id)


async def newest_with_prefix(session: AsyncSession, project_id: uuid.UUID, prefix: str) -> Cache | None:
    """The most recently saved committed cache whose key starts with `prefix` (CircleCI's partial keys)."""
    query = (
        select(Cache)
        .where(
            Cache.project_id == project_id,
            Cache.committed_at.is_not(None),
            Cache.key.startswith(prefix, autoescape=True),
        )
        .order_by(Cache.committed_at.desc(), Cache.created_at.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def expired(session: AsyncSession, committed_before: datetime, pending_before: datetime) -> list[Cache]:
    query = select(Cache).where(
        (Cache.committed_at < committed_before) | (Cache.committed_at.is_(None) & (Cache.created_at < pending_before))
    )
    return list((await session.scalars(query)).all())


async def drop(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    if ids:
        await session.execute(delete(Cache).where(Cache.id.in_(ids)))
