"""Queries on the private orb registry: namespaces, orbs (`namespace/name`) and their published versions."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import and_, delete, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from rondo.store.models import Orb, OrbCategorization, OrbNamespace, OrbVersion


async def namespace_named(session: AsyncSession, name: str) -> OrbNamespace | None:
    return (await session.execute(select(OrbNamespace).where(OrbNamespace.name == name))).scalar_one_or_none()


async def namespace_by_id(session: AsyncSession, namespace_id: uuid.UUID) -> OrbNamespace | None:
    return await session.get(OrbNamespace, namespace_id)


async def namespace_of_organization(session: AsyncSession, org_id: uuid.UUID) -> OrbNamespace | None:
    stmt = select(OrbNamespace).where(OrbNamespace.organization_id == org_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def orb_by_name(session: AsyncSession, namespace: str, name: str) -> tuple[Orb, OrbNamespace] | None:
    stmt = (
        select(Orb, OrbNamespace)
        .join(OrbNamespace, Orb.namespace_id == OrbNamespace.id)
        .where(OrbNamespace.name == namespace, Orb.name == name)
    )
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], row[1]) if row else None


async def orb_by_id(session: AsyncSession, orb_id: uuid.UUID) -> tuple[Orb, OrbNamespace] | None:
    stmt = select(Orb, OrbNamespace).join(OrbNamespace, Orb.namespace_id == OrbNamespace.id).where(Orb.id == orb_id)
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], row[1]) if row else None


async def ensure_orb(session: AsyncSession, namespace: str, name: str) -> tuple[Orb, OrbNamespace, bool, bool]:
    """The orb, made (with its namespace, owned by no organization) if missing; and whether each was made."""
    ns = await namespace_named(session, namespace)
    new_namespace = ns is None
    if ns is None:
        ns = OrbNamespace(name=namespace)
        session.add(ns)
        await session.flush()
    found = await orb_by_name(session, namespace, name)
    if found is not None:
        return found[0], ns, new_namespace, False
    orb = Orb(namespace_id=ns.id, name=name, is_private=False, listed=True)
    session.add(orb)
    await session.flush()
    return orb, ns, new_namespace, True


async def version_digests(session: AsyncSession, orb_id: uuid.UUID) -> dict[str, str]:
    """Every published version of an orb with the digest of its source (the sources stay unread)."""
    rows = await session.execute(select(OrbVersion.version, OrbVersion.digest).where(OrbVersion.orb_id == orb_id))
    return {version: digest for version, digest in rows.all()}


async def orb_version(session: AsyncSession, orb_id: uuid.UUID, version: str) -> OrbVersion | None:
    stmt = select(OrbVersion).where(OrbVersion.orb_id == orb_id, OrbVersion.version == version)
    return (await session.execute(stmt)).scalar_one_or_none()


async def releases(session: AsyncSession, orb_id: uuid.UUID) -> list[OrbVersion]:
    """An orb's release versions (not `dev:` ones), unsorted."""
    stmt = select(OrbVersion).where(OrbVersion.orb_id == orb_id, OrbVersion.version.not_like("dev:%"))
    return list((await session.execute(stmt)).scalars())


async def all_orb_versions(
    session: AsyncSession, visible: ColumnElement[bool]
) -> dict[tuple[str, str], tuple[Orb, list[str]]]:
    """(namespace, name) -> the orb and its published versions (unsorted), for every orb `visible` admits."""
    stmt = (
        select(OrbNamespace.name, Orb, OrbVersion.version)
        .join(OrbNamespace, Orb.namespace_id == OrbNamespace.id)
        .outerjoin(OrbVersion, OrbVersion.orb_id == Orb.id)
        .where(visible)
    )
    found: dict[tuple[str, str], tuple[Orb, list[str]]] = {}
    for namespace, orb, version in (await session.execute(stmt)).all():
        _, versions = found.setdefault((namespace, orb.name), (orb, []))
        if version is not None:
            versions.append(version)
    return found


def visible_to(admin: bool, org_ids: Collection[uuid.UUID]) -> ColumnElement[bool]:
    """Orbs someone sees: every orb for an administrator; else public ones and their organizations' private ones."""
    if admin:
        return true()
    if not org_ids:
        return Orb.is_private == false()
    return or_(Orb.is_private == false(), OrbNamespace.organization_id.in_(list(org_ids)))


async def orbs_page(
    session: AsyncSession, where: ColumnElement[bool], after: tuple[str, str] | None, limit: int
) -> tuple[list[tuple[Orb, OrbNamespace]], int]:
    """A page of orbs in (namespace, name) order after `after`, and how many match in all."""
    base = select(Orb, OrbNamespace).join(OrbNamespace, Orb.namespace_id == OrbNamespace.id).where(where)
    stmt = base.order_by(OrbNamespace.name, Orb.name).limit(limit)
    if after is not None:
        ns, name = after
        stmt = stmt.where(or_(OrbNamespace.name > ns, and_(OrbNamespace.name == ns, Orb.name > name)))
    rows = [(row[0], row[1]) for row in (await session.execute(stmt)).all()]
    count = select(func.count()).select_from(Orb).join(OrbNamespace, Orb.namespace_id == OrbNamespace.id).where(where)
    return rows, int((await session.execute(count)).scalar_one())


async def category_ids(session: AsyncSession, orb_id: uuid.UUID) -> list[uuid.UUID]:
    stmt = select(OrbCategorization.category_id).where(OrbCategorization.orb_id == orb_id)
    return list((await session.execute(stmt)).scalars())


async def add_categorization(session: AsyncSession, orb_id: uuid.UUID, category_id: uuid.UUID) -> None:
    if await session.get(OrbCategorization, (orb_id, category_id)) is None:
        session.add(OrbCategorization(orb_id=orb_id, category_id=category_id))
        await session.flush()


async def remove_categorization(session: AsyncSession, orb_id: uuid.UUID, category_id: uuid.UUID) -> None:
    await session.execute(
        delete(OrbCategorization).where(
            OrbCategorization.orb_id == orb_id, OrbCategorization.category_id == category_id
        )
    )
