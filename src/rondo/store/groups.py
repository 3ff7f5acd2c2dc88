"""Queries on security groups and their members."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Group, GroupMember, User


async def groups_of(session: AsyncSession, organization_id: uuid.UUID) -> list[Group]:
    stmt = select(Group).where(Group.organization_id == organization_id).order_by(Group.name)
    return list((await session.execute(stmt)).scalars())


async def group_by_id(session: AsyncSession, group_id: uuid.UUID) -> Group | None:
    return await session.get(Group, group_id)


async def group_named(session: AsyncSession, organization_id: uuid.UUID, name: str) -> Group | None:
    stmt = select(Group).where(Group.organization_id == organization_id, Group.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def members(session: AsyncSession, group_id: uuid.UUID) -> list[User]:
    stmt = (
        select(User)
        .join(GroupMember, GroupMember.user_id == User.id)
        .where(GroupMember.group_id == group_id)
        .order_by(User.login)
    )
    return list((await session.execute(stmt)).scalars())


async def group_ids_of_user(session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    stmt = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    return set((await session.execute(stmt)).scalars())


async def add_member(session: AsyncSession, group_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Add a user to a group; False when they already are a member."""
    if await session.get(GroupMember, (group_id, user_id)) is not None:
        return False
    session.add(GroupMember(group_id=group_id, user_id=user_id))
    await session.flush()
    return True


async def remove_member(session: AsyncSession, group_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(GroupMember).where(GroupMember.group_id == group_id, GroupMember.user_id == user_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def delete_group(session: AsyncSession, group: Group) -> None:
    await session.execute(delete(GroupMember).where(GroupMember.group_id == group.id))
    await session.delete(group)
