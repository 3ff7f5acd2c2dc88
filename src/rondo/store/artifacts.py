"""Queries on stored artifacts: one row per file of a job's parallel run, listed once committed."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Artifact


async def artifacts_of_job(session: AsyncSession, job_id: uuid.UUID) -> list[Artifact]:
    query = (
        select(Artifact)
        .where(Artifact.job_id == job_id, Artifact.committed_at.is_not(None))
        .order_by(Artifact.node_index, Artifact.path)
    )
    return list((await session.scalars(query)).all())


async def artifact_at(session: AsyncSession, job_id: uuid.UUID, node_index: int, path: str) -> Artifact | None:
    """The file stored at `path` (the newest, if a later step stored the same path again)."""
    query = (
        select(Artifact)
        .where(Artifact.job_id == job_id, Artifact.node_index == node_index, Artifact.path == path)
        .order_by(Artifact.created_at.desc())
        .limit(1)
    )
    return await session.scalar(query)


async def artifacts_by_ids(session: AsyncSession, ids: Collection[uuid.UUID]) -> list[Artifact]:
    if not ids:
        return []
    return list((await session.scalars(select(Artifact).where(Artifact.id.in_(list(ids))))).all())


async def expired(session: AsyncSession, committed_before: datetime, pending_before: datetime) -> list[Artifact]:
    query = select(Artifact).where(
        (Artifact.committed_at < committed_before)
        | (Artifact.committed_at.is_(None) & (Artifact.created_at < pending_before))
    )
    return list((await session.scalars(query)).all())


async def drop(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    if ids:
        await session.execute(delete(Artifact).where(Artifact.id.in_(ids)))
