"""Organization membership: which organizations a user works in, as `/me/collaborations` lists them.

Every user works in an organization that lists no members (how Rondo began: one team per server).
Once an administrator adds members to an organization, only they (and administrators) belong to it:
they see its private orbs, publish to its orb namespace, and see and use its contexts.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.engine.orb_access import OrbViewer
from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import Origin, org_ref, record, user_ref
from rondo.store import organization_members as member_q
from rondo.store import projects as project_q
from rondo.store import users as user_q
from rondo.store.db import Database
from rondo.store.models import Organization, User


class Memberships:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def organizations_of(self, user: User) -> list[Organization]:
        """The organizations `user` works in; administrators work in all of them."""
        async with self._db.session() as session:
            if user.is_admin:
                return await project_q.all_organizations(session)
            return await member_q.organizations_of(session, user.id)

    async def orb_viewer(self, user: User) -> OrbViewer:
        orgs = frozenset(org.id for org in await self.organizations_of(user))
        return OrbViewer(admin=user.is_admin, org_ids=orgs, user_id=user.id)

    async def members(self, org_id: uuid.UUID) -> list[User]:
        """The members an organization lists; an empty list means every user works in it."""
        async with self._db.session() as session:
            await self._organization(session, org_id)
            return await member_q.members(session, org_id)

    async def add(self, org_id: uuid.UUID, login: str, origin: Origin) -> bool:
        """Add a member (organization.member.add); False when they already are one."""
        async with self._db.session() as session:
            org = await self._organization(session, org_id)
            user = await self._user(session, login)
            added = await member_q.add_member(session, org.id, user.id)
            if added:
                record(session, "organization.member.add", origin, user_ref(user), org_ref(org), {"user": login})
        return added

    async def remove(self, org_id: uuid.UUID, login: str, origin: Origin) -> None:
        async with self._db.session() as session:
            org = await self._organization(session, org_id)
            user = await self._user(session, login)
            if not await member_q.remove_member(session, org.id, user.id):
                raise ActionError(404, f"{login} is not a listed member of {org.slug}.")
            record(session, "organization.member.remove", origin, user_ref(user), org_ref(org), {"user": login})

    async def _organization(self, session: AsyncSession, org_id: uuid.UUID) -> Organization:
        org = await session.get(Organization, org_id)
        if org is None:
            raise ActionError(404, "Organization not found")
        return org

    async def _user(self, session: AsyncSession, login: str) -> User:
        user = await user_q.user_by_login(session, login)
        if user is None:
            raise ActionError(404, f"No user is called {login}.")
        return user
