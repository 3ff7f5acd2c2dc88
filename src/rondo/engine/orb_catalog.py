"""The orb registry's namespaces and orbs: create and import them, list them page by page, list or
unlist an orb, file it under categories. Versions are `orbs.OrbRegistry`'s; who may do what is
`orb_access`'s.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, false, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.config.orbs import NAME
from rondo.domain.orb_categories import BY_ID, OrbCategory
from rondo.engine.orb_access import OrbViewer
from rondo.engine.orb_errors import OrbAccessDenied, OrbMissing, OrbNameTaken, OrbRegistryError
from rondo.engine.orbs import audit, namespace_target, orb_target
from rondo.ops.audit import Origin
from rondo.store import orbs as orb_q
from rondo.store.db import Database
from rondo.store.models import Orb, OrbNamespace, Organization

MAX_NAME = 200
PUBLIC_ONLY = "PUBLIC_ONLY"
PRIVATE_ONLY = "PRIVATE_ONLY"


@dataclass(frozen=True)
class NamespaceEntry:
    id: uuid.UUID
    name: str
    organization_id: uuid.UUID | None
    created_at: datetime


@dataclass(frozen=True)
class OrbEntry:
    id: uuid.UUID
    name: str
    namespace: NamespaceEntry
    is_private: bool
    listed: bool
    created_at: datetime

    @property
    def full_name(self) -> str:
        return f"{self.namespace.name}/{self.name}"


@dataclass(frozen=True)
class OrbPage:
    entries: list[OrbEntry]
    total: int  # every orb the listing matches, on all pages
    has_next: bool


def namespace_entry(ns: OrbNamespace) -> NamespaceEntry:
    return NamespaceEntry(ns.id, ns.name, ns.organization_id, ns.created_at)


def orb_entry(orb: Orb, ns: OrbNamespace) -> OrbEntry:
    return OrbEntry(orb.id, orb.name, namespace_entry(ns), orb.is_private, orb.listed, orb.created_at)


def check_name(name: str, what: str) -> str:
    if len(name) > MAX_NAME or not re.fullmatch(NAME, name):
        raise OrbRegistryError(
            f"'{name}' is not a valid {what} name: use lower-case letters, digits, '-' and '_', starting with a letter"
        )
    return name


class OrbCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- reading ------------------------------------------------------------------------------

    async def namespace(self, name: str) -> NamespaceEntry | None:
        """A namespace by name; namespaces are public, only private orbs in them are not."""
        async with self._db.session() as session:
            ns = await orb_q.namespace_named(session, name)
        return namespace_entry(ns) if ns else None

    async def orb(self, namespace: str, name: str, viewer: OrbViewer) -> OrbEntry | None:
        async with self._db.session() as session:
            found = await orb_q.orb_by_name(session, namespace, name)
        return orb_entry(*found) if found and viewer.sees(*found) else None

    async def orb_by_id(self, orb_id: uuid.UUID, viewer: OrbViewer) -> OrbEntry | None:
        async with self._db.session() as session:
            found = await orb_q.orb_by_id(session, orb_id)
        return orb_entry(*found) if found and viewer.sees(*found) else None

    async def page(
        self,
        viewer: OrbViewer,
        *,
        first: int,
        after: tuple[str, str] | None = None,
        namespace_id: uuid.UUID | None = None,
        view: str | None = None,
        listed_only: bool = False,
    ) -> OrbPage:
        """Orbs in (namespace, name) order after `after`: of one namespace (`view`: public or private
        ones only) or, `listed_only`, the public listed orbs of the whole registry."""
        where = viewer.visible()
        if namespace_id is not None:
            where = and_(where, Orb.namespace_id == namespace_id)
        if view == PUBLIC_ONLY or listed_only:
            where = and_(where, Orb.is_private == false())
        elif view == PRIVATE_ONLY:
            where = and_(where, Orb.is_private == true())
        if listed_only:
            where = and_(where, Orb.listed == true())
        async with self._db.session() as session:
            rows, total = await orb_q.orbs_page(session, where, after, first + 1)
        return OrbPage([orb_entry(orb, ns) for orb, ns in rows[:first]], total, len(rows) > first)

    async def categories(self, orb_id: uuid.UUID) -> list[OrbCategory]:
        async with self._db.session() as session:
            ids = await orb_q.category_ids(session, orb_id)
        return sorted((BY_ID[i] for i in ids if i in BY_ID), key=lambda c: c.name)

    # ---- namespaces ---------------------------------------------------------------------------

    async def create_namespace(
        self, name: str, organization_id: uuid.UUID, viewer: OrbViewer, origin: Origin
    ) -> NamespaceEntry:
        """`circleci namespace create`: an organization's one namespace, made by a member or an admin."""
        check_name(name, "namespace")
        try:
            async with self._db.session() as session:
                org = await session.get(Organization, organization_id)
                if org is None or not (viewer.admin or org.id in viewer.org_ids):
                    raise OrbMissing("No organization you belong to has that id.")
                if await orb_q.namespace_named(session, name) is not None:
                    raise OrbNameTaken("Namespace already exists")
                owned = await orb_q.namespace_of_organization(session, org.id)
                if owned is not None:
                    raise OrbNameTaken(f"The organization {org.slug} already has the namespace {owned.name}")
                return await self._add_namespace(session, name, org.id, origin)
        except IntegrityError:
            raise OrbNameTaken("Namespace already exists") from None

    async def import_namespace(self, name: str, viewer: OrbViewer, origin: Origin) -> NamespaceEntry:
        """`circleci admin import-orb`: a namespace copied from another registry, owned by no organization."""
        if not viewer.admin:
            raise OrbAccessDenied("Only administrators import namespaces.")
        check_name(name, "namespace")
        try:
            async with self._db.session() as session:
                if await orb_q.namespace_named(session, name) is not None:
                    raise OrbNameTaken("Namespace already exists")
                return await self._add_namespace(session, name, None, origin)
        except IntegrityError:
            raise OrbNameTaken("Namespace already exists") from None

    async def _add_namespace(
        self, session: AsyncSession, name: str, org_id: uuid.UUID | None, origin: Origin
    ) -> NamespaceEntry:
        ns = OrbNamespace(name=name, organization_id=org_id)
        session.add(ns)
        await session.flush()
        payload = {"name": name, "imported": org_id is None}
        await audit(session, "orb.namespace.create", origin, ns, namespace_target(ns), payload)
        return namespace_entry(ns)

    # ---- orbs ---------------------------------------------------------------------------------

    async def create_orb(
        self, namespace_id: uuid.UUID, name: str, is_private: bool, viewer: OrbViewer, origin: Origin
    ) -> OrbEntry:
        """`circleci orb create [--private]`: an orb with no versions yet, in a namespace the caller may change."""
        return await self._add_orb(namespace_id, name, is_private, viewer, origin, imported=False)

    async def import_orb(self, namespace_id: uuid.UUID, name: str, viewer: OrbViewer, origin: Origin) -> OrbEntry:
        if not viewer.admin:
            raise OrbAccessDenied("Only administrators import orbs.")
        return await self._add_orb(namespace_id, name, False, viewer, origin, imported=True)

    async def _add_orb(
        self, namespace_id: uuid.UUID, name: str, is_private: bool, viewer: OrbViewer, origin: Origin, *, imported: bool
    ) -> OrbEntry:
        check_name(name, "orb")
        try:
            async with self._db.session() as session:
                ns = await orb_q.namespace_by_id(session, namespace_id)
                if ns is None:
                    raise OrbMissing("No namespace has that id.")
                if not viewer.may_change(ns):
                    raise OrbAccessDenied(f"You may not create orbs in the {ns.name} namespace.")
                if await orb_q.orb_by_name(session, ns.name, name) is not None:
                    raise OrbNameTaken(f"Orb {ns.name}/{name} already exists")
                orb = Orb(namespace_id=ns.id, name=name, is_private=is_private, listed=True)
                session.add(orb)
                await session.flush()
                payload = {"name": f"{ns.name}/{name}", "private": is_private, "imported": imported}
                await audit(session, "orb.create", origin, ns, orb_target(ns, orb), payload)
                return orb_entry(orb, ns)
        except IntegrityError:
            raise OrbNameTaken(f"Orb {name} already exists in that namespace") from None

    async def set_listed(self, orb_id: uuid.UUID, listed: bool, viewer: OrbViewer) -> bool:
        """`circleci orb unlist ns/orb true|false`: whether `orb list` shows the orb."""
        async with self._db.session() as session:
            orb, _ = await self._changeable(session, orb_id, viewer)
            orb.listed = listed
        return listed

    async def categorize(self, orb_id: uuid.UUID, category_id: uuid.UUID, add: bool, viewer: OrbViewer) -> None:
        """`circleci orb add-to-category` / `remove-from-category`."""
        if category_id not in BY_ID:
            raise OrbMissing("No orb category has that id; `circleci orb list-categories` shows them.")
        async with self._db.session() as session:
            orb, _ = await self._changeable(session, orb_id, viewer)
            if add:
                await orb_q.add_categorization(session, orb.id, category_id)
            else:
                await orb_q.remove_categorization(session, orb.id, category_id)

    async def _changeable(
        self, session: AsyncSession, orb_id: uuid.UUID, viewer: OrbViewer
    ) -> tuple[Orb, OrbNamespace]:
        found = await orb_q.orb_by_id(session, orb_id)
        if found is None or not viewer.sees(*found):
            raise OrbMissing("No orb has that id.")
        if not viewer.may_change(found[1]):
            raise OrbAccessDenied(f"You may not change orbs in the {found[1].name} namespace.")
        return found
