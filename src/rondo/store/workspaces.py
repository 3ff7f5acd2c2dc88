"""Queries on workspace layers: the newest committed layer each job of a workspace persisted."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import WorkspaceLayer


async def layer_by_id(session: AsyncSession, layer_id: uuid.UUID) -> WorkspaceLayer | None:
    return await session.get(WorkspaceLayer, layer_id)


async def committed_layers(
    session: AsyncSession, workspace_id: uuid.UUID, job_names: Collection[str]
) -> list[WorkspaceLayer]:
    """Committed layers of these jobs, oldest first (a rerun's newer layer comes after the original's)."""
    if not job_names:
        return []
    query = (
        select(WorkspaceLayer)
        .where(
            WorkspaceLayer.workspace_id == workspace_id,
            WorkspaceLayer.job_name.in_(list(job_names)),
            WorkspaceLayer.committed_at.is_not(None),
        )
        .order_by(WorkspaceLayer.committed_at, WorkspaceLayer.created_at)
    )
    return list((await session.scalars(query)).all())


async def expired(session: AsyncSession, committed_before: datetime, pending_before: datetime) -> list[WorkspaceLayer]:
    query = select(WorkspaceLayer).where(
        (WorkspaceLayer.committed_at < committed_before)
        | (WorkspaceLayer.committed_at.is_(None) & (WorkspaceLayer.created_at < pending_before))
    )
    return list((await session.scalars(query)).all())


async def drop(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    if ids:
        await session.execute(delete(WorkspaceLayer).where(WorkspaceLayer.id.in_(ids)))
