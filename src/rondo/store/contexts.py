"""Queries on contexts and their restrictions."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Context, ContextRestriction


async def contexts_of(session: AsyncSession, organization_id: uuid.UUID, offset: int, limit: int) -> list[Context]:
    stmt = (
        select(Context)
        .where(Context.organization_id == organization_id)
        .order_by(Context.name, Context.id)
        .offset(offset)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def context_by_id(session: AsyncSession, context_id: uuid.UUID) -> Context | None:
    return await session.get(Context, context_id)


async def contexts_named(session: AsyncSession, organization_id: uuid.UUID, names: list[str]) -> dict[str, Context]:
    if not names:
        return {}
    stmt = select(Context).where(Context.organization_id == organization_id, Context.name.in_(names))
    return {c.name: c for c in (await session.execute(stmt)).scalars()}


async def restrictions_of(session: AsyncSession, context_ids: list[uuid.UUID]) -> list[ContextRestriction]:
    if not context_ids:
        return []
    stmt = (
        select(ContextRestriction)
        .where(ContextRestriction.context_id.in_(context_ids))
        .order_by(ContextRestriction.created_at, ContextRestriction.id)
    )
    return list((await session.execute(stmt)).scalars())


async def restriction_by_id(session: AsyncSession, restriction_id: uuid.UUID) -> ContextRestriction | None:
    return await session.get(ContextRestriction, restriction_id)


async def delete_restrictions(session: AsyncSession, context_id: uuid.UUID) -> None:
    await session.execute(delete(ContextRestriction).where(ContextRestriction.context_id == context_id))
