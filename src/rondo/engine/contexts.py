"""Contexts: an organization's named sets of environment variables, restrictions on who may use them.

Values are sealed like project variables and never returned. Only people who work in the organization
(engine/organizations.py) see its contexts; to anyone else they do not exist. A restricted context
(security groups) may be changed or deleted only by an administrator or a member of one of its groups.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.slugs import SlugError, parse_org_slug
from rondo.engine.project_env import check_name, check_value, env_var_not_found, seal
from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import Origin, Ref, org_ref, record
from rondo.secrets.envelope import SecretBox, env_var_aad
from rondo.secrets.masking import masked
from rondo.store import contexts as context_q
from rondo.store import env_vars as env_q
from rondo.store import groups as group_q
from rondo.store import organization_members as member_q
from rondo.store import projects as project_q
from rondo.store.db import Database
from rondo.store.models import Context, ContextEnvVar, ContextRestriction, Organization, User
from rondo.store.types import utcnow

MAX_CONTEXT_NAME = 200
RESTRICTION_TYPES = ("group", "project")


def context_not_found() -> ActionError:
    return ActionError(404, "context not found")


class ContextService:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def _context(
        self, session: AsyncSession, context_id: uuid.UUID, user: User | None
    ) -> tuple[Context, Organization]:
        """The context and its organization, if `user` works there (None: for administrators' routes)."""
        ctx = await context_q.context_by_id(session, context_id)
        if ctx is None or (user is not None and not await member_q.works_in(session, ctx.organization_id, user)):
            raise context_not_found()
        return ctx, await project_q.organization(session, ctx.organization_id)

    @staticmethod
    async def _works_in(session: AsyncSession, org: Organization | uuid.UUID, user: User) -> None:
        if not await member_q.works_in(session, org if isinstance(org, uuid.UUID) else org.id, user):
            raise ActionError(404, "Organization not found")

    async def _may_change(self, session: AsyncSession, ctx: Context, user: User) -> None:
        groups = {
            r.restriction_value
            for r in await context_q.restrictions_of(session, [ctx.id])
            if r.restriction_type == "group"
        }
        if (
            groups
            and not user.is_admin
            and not groups & {str(g) for g in await group_q.group_ids_of_user(session, user.id)}
        ):
            raise ActionError(403, f"Context {ctx.name} is restricted to security groups you are not a member of.")

    def _audit(
        self,
        session: AsyncSession,
        action: str,
        origin: Origin,
        ctx: Context,
        org: Organization,
        payload: dict[str, Any],
    ) -> None:
        record(session, action, origin, Ref(str(ctx.id), "context", ctx.name), org_ref(org), payload)

    # ---- contexts ---------------------------------------------------------------------------

    async def list_all(self, org_id: uuid.UUID, user: User, offset: int, limit: int) -> list[Context]:
        async with self._db.session() as session:
            await self._works_in(session, org_id, user)
            return await context_q.contexts_of(session, org_id, offset, limit)

    async def create(self, org: Organization, name: str, user: User, origin: Origin) -> Context:
        name = name.strip()
        if not name or len(name) > MAX_CONTEXT_NAME:
            raise ActionError(400, f"A context name has 1 to {MAX_CONTEXT_NAME} characters.")
        async with self._db.session() as session:
            await self._works_in(session, org, user)
            if await context_q.contexts_named(session, org.id, [name]):
                raise ActionError(409, f"A context named {name} already exists in {org.slug}.")
            ctx = Context(organization_id=org.id, name=name, created_at=utcnow())
            session.add(ctx)
            await session.flush()
            self._audit(session, "context.create", origin, ctx, org, {"context": {"name": name}})
        return ctx

    async def get(self, context_id: uuid.UUID, user: User) -> Context:
        async with self._db.session() as session:
            ctx, _ = await self._context(session, context_id, user)
            return ctx

    async def delete(self, context_id: uuid.UUID, user: User, origin: Origin) -> None:
        async with self._db.session() as session:
            ctx, org = await self._context(session, context_id, user)
            await self._may_change(session, ctx, user)
            names = [v.name for v in await env_q.context_env_vars(session, [ctx.id])]
            await env_q.delete_context_env_vars(session, ctx.id)
            await context_q.delete_restrictions(session, ctx.id)
            await session.delete(ctx)
            self._audit(session, "context.delete", origin, ctx, org, {"context": {"name": ctx.name}, "env_vars": names})

    # ---- variables --------------------------------------------------------------------------

    async def env_vars(self, context_id: uuid.UUID, user: User) -> list[ContextEnvVar]:
        async with self._db.session() as session:
            ctx, _ = await self._context(session, context_id, user)
            return await env_q.context_env_vars(session, [ctx.id])

    async def put_env_var(
        self, context_id: uuid.UUID, name: str, value: str, user: User, origin: Origin
    ) -> ContextEnvVar:
        """Create the variable or replace its value (context.env_var.store)."""
        check_name(name)
        check_value(value)
        sealed = await seal(self._box, value, env_var_aad("context", context_id, name))
        async with self._db.session() as session:
            ctx, org = await self._context(session, context_id, user)
            await self._may_change(session, ctx, user)
            row = await env_q.context_env_var(session, ctx.id, name)
            now = utcnow()
            replaced = row is not None
            if row is None:
                row = ContextEnvVar(context_id=ctx.id, name=name, created_at=now)
                session.add(row)
            row.masked_value = masked(value)
            row.wrapped_dek, row.ciphertext = sealed.wrapped_dek, sealed.ciphertext
            row.updated_at = now
            payload = {"env_var": {"name": name}, "replaced": replaced}
            self._audit(session, "context.env_var.store", origin, ctx, org, payload)
        return row

    async def delete_env_var(self, context_id: uuid.UUID, name: str, user: User, origin: Origin) -> None:
        async with self._db.session() as session:
            ctx, org = await self._context(session, context_id, user)
            row = await env_q.context_env_var(session, ctx.id, name)
            if row is None:
                raise env_var_not_found()
            await self._may_change(session, ctx, user)
            await session.delete(row)
            self._audit(session, "context.env_var.delete", origin, ctx, org, {"env_var": {"name": name}})

    # ---- restrictions -----------------------------------------------------------------------

    async def restrictions(self, context_id: uuid.UUID, user: User) -> list[ContextRestriction]:
        async with self._db.session() as session:
            ctx, _ = await self._context(session, context_id, user)
            return await context_q.restrictions_of(session, [ctx.id])

    async def add_restriction(
        self, context_id: uuid.UUID, restriction_type: str, value: str, origin: Origin
    ) -> ContextRestriction:
        """Restrict a context to a security group (its id) or a project (its id) of the context's organization."""
        if restriction_type not in RESTRICTION_TYPES:
            raise ActionError(
                400,
                f"restriction_type {restriction_type!r} is not supported here; "
                f"use one of {', '.join(RESTRICTION_TYPES)}",
            )
        try:
            ident = uuid.UUID(value)
        except ValueError:
            raise ActionError(400, f"restriction_value must be the {restriction_type}'s id (a UUID)") from None
        async with self._db.session() as session:
            ctx, org = await self._context(session, context_id, None)
            if restriction_type == "group":
                group = await group_q.group_by_id(session, ident)
                if group is None or group.organization_id != org.id:
                    raise ActionError(400, f"No security group {ident} in {org.slug}.")
                name = group.name
            else:
                project = await project_q.project_by_id(session, ident)
                if project is None or project.organization_id != org.id:
                    raise ActionError(400, f"No project {ident} in {org.slug}.")
                name = project.slug
            existing = await context_q.restrictions_of(session, [ctx.id])
            if any(r.restriction_type == restriction_type and r.restriction_value == str(ident) for r in existing):
                raise ActionError(409, f"Context {ctx.name} is already restricted to that {restriction_type}.")
            row = ContextRestriction(
                context_id=ctx.id, restriction_type=restriction_type, restriction_value=str(ident), name=name
            )
            session.add(row)
            await session.flush()
            payload = {"restriction": {"id": str(row.id), "type": restriction_type, "value": str(ident), "name": name}}
            self._audit(session, "context.restriction.create", origin, ctx, org, payload)
        return row

    async def delete_restriction(self, context_id: uuid.UUID, restriction_id: uuid.UUID, origin: Origin) -> None:
        async with self._db.session() as session:
            ctx, org = await self._context(session, context_id, None)
            row = await context_q.restriction_by_id(session, restriction_id)
            if row is None or row.context_id != ctx.id:
                raise ActionError(404, "restriction not found")
            await session.delete(row)
            payload = {"restriction": {"id": str(row.id), "type": row.restriction_type, "value": row.restriction_value}}
            self._audit(session, "context.restriction.delete", origin, ctx, org, payload)


async def owner_organization(
    db: Database, owner_id: str | None, owner_slug: str | None, *, create: bool = False
) -> Organization | None:
    """The organization a context owner names, by id or slug; with `create`, a slug's organization is made
    if Rondo has not seen it yet (contexts can be set up before the first project is followed)."""
    async with db.session() as session:
        if owner_id:
            try:
                return await session.get(Organization, uuid.UUID(owner_id))
            except ValueError:
                raise ActionError(400, f"owner id {owner_id!r} is not a UUID") from None
        if not owner_slug:
            raise ActionError(400, "Give the owner: owner-id, or owner-slug such as gh/acme.")
        try:
            vcs, name = parse_org_slug(owner_slug)
        except SlugError as exc:
            raise ActionError(400, str(exc)) from None
        orgs = {o.slug: o for o in await project_q.all_organizations(session)}
        org = orgs.get(f"{vcs}/{name}")
        if org is None and create:
            org = await project_q.ensure_organization(session, vcs, f"{vcs}/{name}", name)
        return org
