"""Queries on organizations, projects and the refs of followed repositories."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Organization, Project, ProjectRef
from rondo.store.types import utcnow


async def project_by_slug(session: AsyncSession, slug: str) -> Project | None:
    return (await session.execute(select(Project).where(Project.slug == slug))).scalar_one_or_none()


_PROJECT_AND_ORGANIZATION = (
    select(Project, Organization)
    .join(Organization, Organization.id == Project.organization_id)
    .where(Project.slug == bindparam("slug"))
)


async def project_and_organization_by_slug(session: AsyncSession, slug: str) -> tuple[Project, Organization] | None:
    row = (await session.execute(_PROJECT_AND_ORGANIZATION, {"slug": slug})).first()
    return (row[0], row[1]) if row is not None else None


async def project_by_id(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def all_projects(session: AsyncSession) -> list[Project]:
    return list((await session.execute(select(Project).order_by(Project.slug))).scalars())


async def projects_after(session: AsyncSession, after_slug: str | None, limit: int) -> list[Project]:
    """Projects in slug order, starting after `after_slug` (a page of a list)."""
    stmt = select(Project).order_by(Project.slug).limit(limit)
    if after_slug is not None:
        stmt = stmt.where(Project.slug > after_slug)
    return list((await session.execute(stmt)).scalars())


async def organization(session: AsyncSession, org_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, org_id)
    assert org is not None, "projects always have an organization"
    return org


async def ensure_organization(session: AsyncSession, vcs: str, slug: str, name: str) -> Organization:
    org = (await session.execute(select(Organization).where(Organization.slug == slug))).scalar_one_or_none()
    if org is None:
        org = Organization(slug=slug, name=name, vcs=vcs)
        session.add(org)
        await session.flush()
    return org


_NEXT_PIPELINE_NUMBER = (
    update(Project)
    .where(Project.id == bindparam("project_id"))
    .values(last_pipeline_number=Project.last_pipeline_number + 1)
    .returning(Project.last_pipeline_number)
)
_NEXT_JOB_NUMBER = (
    update(Project)
    .where(Project.id == bindparam("project_id"))
    .values(last_job_number=Project.last_job_number + 1)
    .returning(Project.last_job_number)
)


async def next_pipeline_number(session: AsyncSession, project_id: uuid.UUID) -> int:
    """Take the project's next pipeline number; the row lock makes concurrent triggers distinct."""
    return int((await session.execute(_NEXT_PIPELINE_NUMBER, {"project_id": project_id})).scalar_one())


async def next_job_number(session: AsyncSession, project_id: uuid.UUID) -> int:
    return int((await session.execute(_NEXT_JOB_NUMBER, {"project_id": project_id})).scalar_one())


async def known_refs(session: AsyncSession, project_id: uuid.UUID) -> dict[str, str]:
    rows = await session.execute(select(ProjectRef.ref, ProjectRef.sha).where(ProjectRef.project_id == project_id))
    return {ref: sha for ref, sha in rows.all()}


async def save_refs(session: AsyncSession, project_id: uuid.UUID, refs: dict[str, str]) -> None:
    """Replace the stored refs of a project with `refs`."""
    await session.execute(delete(ProjectRef).where(ProjectRef.project_id == project_id))
    now = utcnow()
    session.add_all(ProjectRef(project_id=project_id, ref=r, sha=s, updated_at=now) for r, s in refs.items())


async def all_organizations(session: AsyncSession) -> list[Organization]:
    return list((await session.execute(select(Organization).order_by(Organization.slug))).scalars())
