"""Security groups: an organization's named sets of users, which restricted contexts allow."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import Origin, Ref, org_ref, record
from rondo.store import groups as group_q
from rondo.store import projects as project_q
from rondo.store import users as user_q
from rondo.store.db import Database
from rondo.store.models import Group, Organization, User


class GroupService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _group(self, session: AsyncSession, org_id: uuid.UUID, group_id: uuid.UUID) -> Group:
        group = await group_q.group_by_id(session, group_id)
        if group is None or group.organization_id != org_id:
            raise ActionError(404, "Group not found.")
        return group

    async def _user(self, session: AsyncSession, login: str) -> User:
        user = await user_q.user_by_login(session, login)
        if user is None:
            raise ActionError(404, f"No user is called {login}.")
        return user

    def _audit(
        self,
        session: AsyncSession,
        action: str,
        origin: Origin,
        group: Group,
        org: Organization,
        payload: dict[str, str],
    ) -> None:
        record(session, action, origin, Ref(str(group.id), "group", group.name), org_ref(org), payload)

    async def list_all(self, org_id: uuid.UUID) -> list[Group]:
        async with self._db.session() as session:
            return await group_q.groups_of(session, org_id)

    async def get(self, org_id: uuid.UUID, group_id: uuid.UUID) -> tuple[Group, list[User]]:
        async with self._db.session() as session:
            group = await self._group(session, org_id, group_id)
            return group, await group_q.members(session, group.id)

    async def create(self, org_id: uuid.UUID, name: str, description: str, origin: Origin) -> Group:
        name = name.strip()
        if not name or len(name) > 200:
            raise ActionError(400, "A group name has 1 to 200 characters.")
        async with self._db.session() as session:
            org = await project_q.organization(session, org_id)
            if await group_q.group_named(session, org.id, name) is not None:
                raise ActionError(409, f"A group named {name} already exists in {org.slug}.")
            group = Group(organization_id=org.id, name=name, description=description)
            session.add(group)
            await session.flush()
            self._audit(session, "group.create", origin, group, org, {"name": name})
        return group

    async def delete(self, org_id: uuid.UUID, group_id: uuid.UUID, origin: Origin) -> None:
        async with self._db.session() as session:
            group = await self._group(session, org_id, group_id)
            org = await project_q.organization(session, org_id)
            await group_q.delete_group(session, group)
            self._audit(session, "group.delete", origin, group, org, {"name": group.name})

    async def add_member(self, org_id: uuid.UUID, group_id: uuid.UUID, login: str, origin: Origin) -> bool:
        async with self._db.session() as session:
            group = await self._group(session, org_id, group_id)
            user = await self._user(session, login)
            added = await group_q.add_member(session, group.id, user.id)
            if added:
                org = await project_q.organization(session, org_id)
                self._audit(session, "group.member.add", origin, group, org, {"user": user.login})
        return added

    async def remove_member(self, org_id: uuid.UUID, group_id: uuid.UUID, login: str, origin: Origin) -> None:
        async with self._db.session() as session:
            group = await self._group(session, org_id, group_id)
            user = await self._user(session, login)
            if not await group_q.remove_member(session, group.id, user.id):
                raise ActionError(404, f"{login} is not a member of {group.name}.")
            org = await project_q.organization(session, org_id)
            self._audit(session, "group.member.remove", origin, group, org, {"user": user.login})
