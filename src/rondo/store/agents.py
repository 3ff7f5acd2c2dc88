"""Queries on registered agents."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Agent
from rondo.store.types import utcnow


async def agent_by_id(session: AsyncSession, agent_id: uuid.UUID) -> Agent | None:
    return await session.get(Agent, agent_id)


async def all_agents(session: AsyncSession) -> list[Agent]:
    return list((await session.execute(select(Agent).order_by(Agent.registered_at))).scalars())


async def touch(session: AsyncSession, agent_id: uuid.UUID) -> None:
    await session.execute(update(Agent).where(Agent.id == agent_id).values(last_seen_at=utcnow(), state="ready"))


async def touch_live(session: AsyncSession, agent_id: uuid.UUID) -> Agent | None:
    """Mark a registered agent seen now and return it; None when it is unknown or was declared down."""
    return (await session.execute(_TOUCH_LIVE, {"agent": agent_id, "seen_at": utcnow()})).scalars().first()


_TOUCH_LIVE = (
    update(Agent)
    .where(Agent.id == bindparam("agent"), Agent.state != "down")
    .values(last_seen_at=bindparam("seen_at"), state="ready")
    .returning(Agent)
    .execution_options(populate_existing=True)
)


async def silent_since(session: AsyncSession, cutoff: datetime) -> list[Agent]:
    """Agents marked ready whose last heartbeat is older than `cutoff`."""
    stmt = select(Agent).where(Agent.state == "ready", Agent.last_seen_at < cutoff)
    return list((await session.execute(stmt)).scalars())
