"""Queries on the private orb registry: orbs (`namespace/name`) and their published versions."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Orb, OrbVersion


async def orb_by_name(session: AsyncSession, namespace: str, name: str) -> Orb | None:
    stmt = select(Orb).where(Orb.namespace == namespace, Orb.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def ensure_orb(session: AsyncSession, namespace: str, name: str) -> Orb:
    orb = await orb_by_name(session, namespace, name)
    if orb is None:
        orb = Orb(namespace=namespace, name=name)
        session.add(orb)
        await session.flush()
    return orb


async def version_digests(session: AsyncSession, orb_id: uuid.UUID) -> dict[str, str]:
    """Every published version of an orb with the digest of its source (the sources stay unread)."""
    rows = await session.execute(select(OrbVersion.version, OrbVersion.digest).where(OrbVersion.orb_id == orb_id))
    return {version: digest for version, digest in rows.all()}


async def orb_version(session: AsyncSession, orb_id: uuid.UUID, version: str) -> OrbVersion | None:
    stmt = select(OrbVersion).where(OrbVersion.orb_id == orb_id, OrbVersion.version == version)
    return (await session.execute(stmt)).scalar_one_or_none()


async def all_orb_versions(session: AsyncSession) -> dict[tuple[str, str], list[str]]:
    """(namespace, name) -> published versions, unsorted, for every orb."""
    stmt = select(Orb.namespace, Orb.name, OrbVersion.version).outerjoin(OrbVersion, OrbVersion.orb_id == Orb.id)
    found: dict[tuple[str, str], list[str]] = {}
    for namespace, name, version in (await session.execute(stmt)).all():
        versions = found.setdefault((namespace, name), [])
        if version is not None:
            versions.append(version)
    return found
