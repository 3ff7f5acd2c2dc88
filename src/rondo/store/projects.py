"""Queries on organizations, projects and the refs of followed repositories."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import Job, Organization, Project, ProjectRef
from rondo.store.organization_members import works_in_clause
from rondo.store.types import utcnow


async def project_by_slug(session: AsyncSession, slug: str) -> Project | None:
    return (await session.execute(select(Project).where(Project.slug == slug))).scalar_one_or_none()


def works_in_project() -> ColumnElement[bool]:
    """A column for the queries that find a project for someone: whether the user bound as `user_id`
    works in the project's organization (None binds no user: only open organizations say yes)."""
    return works_in_clause(Project.organization_id, bindparam("user_id")).label("works_in")


def visible_to(member: uuid.UUID | None) -> ColumnElement[bool] | None:
    """The condition on Project that keeps the projects of organizations `member` works in; None keeps all
    (administrators)."""
    return None if member is None else works_in_clause(Project.organization_id, member)


# Who-may-see lookups: the project (and whether the user works in its organization) in one query.
_PROJECT_BY_SLUG_FOR = select(Project, works_in_project()).where(Project.slug == bindparam("slug"))
_PROJECT_BY_ID_FOR = select(Project, works_in_project()).where(Project.id == bindparam("project_id"))
_PROJECT_OF_JOB_FOR = (
    select(Project, works_in_project()).join(Job, Job.project_id == Project.id).where(Job.id == bindparam("job_id"))
)
_PROJECT_AND_ORGANIZATION = (
    select(Project, Organization, works_in_project())
    .join(Organization, Organization.id == Project.organization_id)
    .where(Project.slug == bindparam("slug"))
)


async def project_by_slug_for(
    session: AsyncSession, slug: str, user_id: uuid.UUID | None
) -> tuple[Project, bool] | None:
    """The project, and whether the user works in its organization."""
    row = (await session.execute(_PROJECT_BY_SLUG_FOR, {"slug": slug, "user_id": user_id})).first()
    return (row[0], bool(row[1])) if row is not None else None


async def project_by_id_for(
    session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID | None
) -> tuple[Project, bool] | None:
    row = (await session.execute(_PROJECT_BY_ID_FOR, {"project_id": project_id, "user_id": user_id})).first()
    return (row[0], bool(row[1])) if row is not None else None


async def project_of_job_for(
    session: AsyncSession, job_id: uuid.UUID, user_id: uuid.UUID | None
) -> tuple[Project, bool] | None:
    row = (await session.execute(_PROJECT_OF_JOB_FOR, {"job_id": job_id, "user_id": user_id})).first()
    return (row[0], bool(row[1])) if row is not None else None


async def project_and_organization_by_slug(
    session: AsyncSession, slug: str, user_id: uuid.UUID | None = None
) -> tuple[Project, Organization, bool] | None:
    """The project, its organization and whether the user works there, in one query (triggering's only read)."""
    row = (await session.execute(_PROJECT_AND_ORGANIZATION, {"slug": slug, "user_id": user_id})).first()
    return (row[0], row[1], bool(row[2])) if row is not None else None


async def project_by_id(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def all_projects(session: AsyncSession, member: uuid.UUID | None = None) -> list[Project]:
    """Every project, or those of the organizations `member` works in."""
    stmt = select(Project).order_by(Project.slug)
    if (kept := visible_to(member)) is not None:
        stmt = stmt.where(kept)
    return list((await session.execute(stmt)).scalars())


async def projects_after(
    session: AsyncSession, after_slug: str | None, limit: int, member: uuid.UUID | None = None
) -> list[Project]:
    """Projects in slug order, starting after `after_slug` (a page of a list); only `member`'s, if given."""
    stmt = select(Project).order_by(Project.slug).limit(limit)
    if (kept := visible_to(member)) is not None:
        stmt = stmt.where(kept)
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
