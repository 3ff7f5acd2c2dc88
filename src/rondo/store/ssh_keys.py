"""Queries on projects' SSH keys: checkout keys (newest first: the first is the preferred one) and additional keys."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import CheckoutKey, ProjectSshKey

SshKeyRow = CheckoutKey | ProjectSshKey


async def checkout_keys(session: AsyncSession, project_id: uuid.UUID) -> list[CheckoutKey]:
    """Newest first: the first one is the project's preferred key."""
    stmt = (
        select(CheckoutKey)
        .where(CheckoutKey.project_id == project_id)
        .order_by(CheckoutKey.created_at.desc(), CheckoutKey.id.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def ssh_keys(session: AsyncSession, project_id: uuid.UUID) -> list[ProjectSshKey]:
    """In the order they were added."""
    stmt = (
        select(ProjectSshKey)
        .where(ProjectSshKey.project_id == project_id)
        .order_by(ProjectSshKey.created_at, ProjectSshKey.id)
    )
    return list((await session.execute(stmt)).scalars())


async def key_page(
    session: AsyncSession, model: type[SshKeyRow], after: uuid.UUID | None, limit: int
) -> list[SshKeyRow]:
    """Rows of one key table in id order, for walking all of them (key rotation)."""
    stmt = select(model).order_by(model.id).limit(limit)
    if after is not None:
        stmt = stmt.where(model.id > after)
    return [r for r in (await session.execute(stmt)).scalars() if isinstance(r, model)]
