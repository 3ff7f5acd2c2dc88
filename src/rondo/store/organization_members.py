"""Queries on organization membership: who belongs to an organization that lists its members."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Organization, OrganizationMember, User


def works_in_clause(org_id: ColumnElement[Any] | Any, user_id: Any) -> ColumnElement[bool]:
    """SQL for "the user works in the organization": it lists nobody, or it lists them. `user_id` may be a
    value or a `bindparam`; NULL matches no member. Administrators are the caller's to let through."""
    listed_anyone = exists().where(OrganizationMember.organization_id == org_id)
    listed_user = exists().where(OrganizationMember.organization_id == org_id, OrganizationMember.user_id == user_id)
    return or_(~listed_anyone, listed_user)


async def organizations_of(session: AsyncSession, user_id: uuid.UUID) -> list[Organization]:
    """The organizations a user works in: those that list them, and those that list nobody (open to all)."""
    stmt = select(Organization).where(works_in_clause(Organization.id, user_id)).order_by(Organization.slug)
    return list((await session.execute(stmt)).scalars())


async def works_in(session: AsyncSession, org_id: uuid.UUID, user: User | None) -> bool:
    """Whether `user` works in the organization: administrators and listed members do, and everyone
    does where the organization lists nobody."""
    if user is not None and user.is_admin:
        return True
    listed = select(OrganizationMember.user_id).where(OrganizationMember.organization_id == org_id)
    ids = set((await session.execute(listed)).scalars())
    return not ids or (user is not None and user.id in ids)


async def members(session: AsyncSession, org_id: uuid.UUID) -> list[User]:
    stmt = (
        select(User)
        .join(OrganizationMember, OrganizationMember.user_id == User.id)
        .where(OrganizationMember.organization_id == org_id)
        .order_by(User.login)
    )
    return list((await session.execute(stmt)).scalars())


async def add_member(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Record a member; False when they already are one."""
    if await session.get(OrganizationMember, (org_id, user_id)) is not None:
        return False
    session.add(OrganizationMember(organization_id=org_id, user_id=user_id))
    await session.flush()
    return True


async def remove_member(session: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(OrganizationMember).where(
            OrganizationMember.organization_id == org_id, OrganizationMember.user_id == user_id
        )
    )
    return bool(getattr(result, "rowcount", 0))
