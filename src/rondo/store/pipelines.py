"""Queries on pipelines, workflows and jobs."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import TypeVar

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from rondo.store.models import Job, Organization, Pipeline, Project, User, Workflow
from rondo.store.projects import visible_to, works_in_project

T = TypeVar("T")


async def pipeline_by_id(session: AsyncSession, pipeline_id: uuid.UUID) -> Pipeline | None:
    return await session.get(Pipeline, pipeline_id)


_PIPELINE_FOR = (
    select(Pipeline, Project, works_in_project())
    .join(Project, Project.id == Pipeline.project_id)
    .where(Pipeline.id == bindparam("pipeline_id"))
)
_WORKFLOW_FOR = (
    select(Workflow, Pipeline, Project, works_in_project())
    .join(Pipeline, Pipeline.id == Workflow.pipeline_id)
    .join(Project, Project.id == Pipeline.project_id)
    .where(Workflow.id == bindparam("workflow_id"))
)


async def pipeline_for(
    session: AsyncSession, pipeline_id: uuid.UUID, user_id: uuid.UUID | None
) -> tuple[Pipeline, Project, bool] | None:
    """A pipeline, its project and whether the user works in the project's organization, in one query."""
    row = (await session.execute(_PIPELINE_FOR, {"pipeline_id": pipeline_id, "user_id": user_id})).first()
    return (row[0], row[1], bool(row[2])) if row is not None else None


async def workflow_for(
    session: AsyncSession, workflow_id: uuid.UUID, user_id: uuid.UUID | None
) -> tuple[Workflow, Pipeline, Project, bool] | None:
    """A workflow, its pipeline and project, and whether the user works in the project's organization."""
    row = (await session.execute(_WORKFLOW_FOR, {"workflow_id": workflow_id, "user_id": user_id})).first()
    return (row[0], row[1], row[2], bool(row[3])) if row is not None else None


async def pipeline_by_number(session: AsyncSession, project_id: uuid.UUID, number: int) -> Pipeline | None:
    stmt = select(Pipeline).where(Pipeline.project_id == project_id, Pipeline.number == number)
    return (await session.execute(stmt)).scalar_one_or_none()


async def pipelines_page(
    session: AsyncSession,
    *,
    project_id: uuid.UUID | None = None,
    branch: str | None = None,
    before_number: int | None = None,
    before_created: object | None = None,
    limit: int = 20,
) -> list[Pipeline]:
    """Newest first. Paging is by (created_at, id) across projects, by number within one project."""
    stmt = select(Pipeline)
    if project_id is not None:
        stmt = stmt.where(Pipeline.project_id == project_id)
        if before_number is not None:
            stmt = stmt.where(Pipeline.number < before_number)
        stmt = stmt.order_by(Pipeline.number.desc())
    else:
        stmt = stmt.order_by(Pipeline.created_at.desc(), Pipeline.id.desc())
    if branch is not None:
        stmt = stmt.where(Pipeline.branch == branch)
    return list((await session.execute(stmt.limit(limit))).scalars())


async def workflows_of(session: AsyncSession, pipeline_id: uuid.UUID) -> list[Workflow]:
    stmt = select(Workflow).where(Workflow.pipeline_id == pipeline_id).order_by(Workflow.created_at, Workflow.name)
    return list((await session.execute(stmt)).scalars())


async def workflow_by_id(session: AsyncSession, workflow_id: uuid.UUID) -> Workflow | None:
    return await session.get(Workflow, workflow_id)


def _in_session(session: AsyncSession, model: type[T], ident: uuid.UUID | None) -> T | None:
    """The object if this session already holds it (no SQL)."""
    found = session.sync_session.identity_map.get(identity_key(model, ident)) if ident is not None else None
    return found if isinstance(found, model) else None


async def lineage(session: AsyncSession, workflow_id: uuid.UUID) -> tuple[Workflow, Pipeline, Project, Organization]:
    """A workflow with its pipeline, project and organization: from the session when it holds them all
    (a transaction that just made or read them, and still references them), else in one query."""
    workflow = _in_session(session, Workflow, workflow_id)
    pipeline = _in_session(session, Pipeline, workflow.pipeline_id if workflow else None)
    project = _in_session(session, Project, pipeline.project_id if pipeline else None)
    org = _in_session(session, Organization, project.organization_id if project else None)
    if workflow and pipeline and project and org:
        return workflow, pipeline, project, org
    workflow, pipeline, project, org = (await session.execute(_LINEAGE, {"workflow_id": workflow_id})).one()
    return workflow, pipeline, project, org


_LINEAGE = (
    select(Workflow, Pipeline, Project, Organization)
    .join(Pipeline, Pipeline.id == Workflow.pipeline_id)
    .join(Project, Project.id == Pipeline.project_id)
    .join(Organization, Organization.id == Project.organization_id)
    .where(Workflow.id == bindparam("workflow_id"))
)


_JOBS_OF = select(Job).where(Job.workflow_id == bindparam("workflow_id")).order_by(Job.created_at, Job.name)


async def jobs_of(session: AsyncSession, workflow_id: uuid.UUID) -> list[Job]:
    return list((await session.execute(_JOBS_OF, {"workflow_id": workflow_id})).scalars())


async def job_by_number(session: AsyncSession, project_id: uuid.UUID, number: int) -> Job | None:
    stmt = select(Job).where(Job.project_id == project_id, Job.number == number)
    return (await session.execute(stmt)).scalar_one_or_none()


async def job_by_id(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    return await session.get(Job, job_id)


async def job_with_lineage(
    session: AsyncSession, job_id: uuid.UUID
) -> tuple[Job, Workflow, Pipeline, Project, Organization] | None:
    """A job with its workflow, pipeline, project and organization, in one query. While the caller holds
    them, `lineage` finds them in the session (it holds objects weakly)."""
    row = (await session.execute(_JOB_WITH_LINEAGE, {"job_id": job_id})).first()
    return (row[0], row[1], row[2], row[3], row[4]) if row is not None else None


_JOB_WITH_LINEAGE = (
    select(Job, Workflow, Pipeline, Project, Organization)
    .join(Workflow, Workflow.id == Job.workflow_id)
    .join(Pipeline, Pipeline.id == Workflow.pipeline_id)
    .join(Project, Project.id == Pipeline.project_id)
    .join(Organization, Organization.id == Project.organization_id)
    .where(Job.id == bindparam("job_id"))
)


# ---- reads for the v1.1 build lists and the cross-project pipeline lists --------------------------

BuildRow = tuple[Job, Workflow, Pipeline, Project]


async def numbered_jobs(
    session: AsyncSession,
    *,
    project_id: uuid.UUID | None = None,
    branch: str | None = None,
    statuses: Collection[str] | None = None,
    offset: int = 0,
    limit: int = 30,
    member: uuid.UUID | None = None,
) -> list[BuildRow]:
    """Jobs that were given a number (v1.1 "builds"), newest first: by number in a project, else by queue time.
    With `member`, only jobs of projects of the organizations that user works in."""
    stmt = (
        select(Job, Workflow, Pipeline, Project)
        .join(Workflow, Job.workflow_id == Workflow.id)
        .join(Pipeline, Workflow.pipeline_id == Pipeline.id)
        .join(Project, Job.project_id == Project.id)
        .where(Job.number.is_not(None))
    )
    if project_id is not None:
        stmt = stmt.where(Job.project_id == project_id).order_by(Job.number.desc())
    else:
        stmt = stmt.order_by(Job.queued_at.desc(), Job.id.desc())
    if branch is not None:
        stmt = stmt.where(Pipeline.branch == branch)
    if statuses is not None:
        stmt = stmt.where(Job.status.in_(list(statuses)))
    if (kept := visible_to(member)) is not None:
        stmt = stmt.where(kept)
    result = await session.execute(stmt.offset(offset).limit(limit))
    return [(job, wf, pipe, proj) for job, wf, pipe, proj in result]


async def previous_numbered_job(
    session: AsyncSession, project_id: uuid.UUID, name: str, branch: str | None, before_number: int
) -> Job | None:
    """The job of the same name on the same branch that ran before `before_number` (v1.1 `previous`)."""
    stmt = (
        select(Job)
        .join(Workflow, Job.workflow_id == Workflow.id)
        .join(Pipeline, Workflow.pipeline_id == Pipeline.id)
        .where(
            Job.project_id == project_id,
            Job.name == name,
            Job.number.is_not(None),
            Job.number < before_number,
            Pipeline.branch.is_(None) if branch is None else Pipeline.branch == branch,
        )
        .order_by(Job.number.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def jobs_of_workflows(session: AsyncSession, workflow_ids: Collection[uuid.UUID]) -> list[Job]:
    if not workflow_ids:
        return []
    stmt = select(Job).where(Job.workflow_id.in_(list(workflow_ids))).order_by(Job.created_at, Job.name)
    return list((await session.execute(stmt)).scalars())


async def branches_with_jobs(session: AsyncSession, project_id: uuid.UUID) -> list[str]:
    """The branches of a project that have numbered jobs, by name."""
    stmt = (
        select(Pipeline.branch)
        .join(Workflow, Workflow.pipeline_id == Pipeline.id)
        .join(Job, Job.workflow_id == Workflow.id)
        .where(Pipeline.project_id == project_id, Pipeline.branch.is_not(None), Job.number.is_not(None))
        .distinct()
        .order_by(Pipeline.branch)
    )
    return [b for b in (await session.execute(stmt)).scalars() if b is not None]


async def users_by_login(session: AsyncSession, logins: Collection[str]) -> dict[str, User]:
    """The users among the logins that started pipelines (others are automations such as `git`)."""
    if not logins:
        return {}
    stmt = select(User).where(User.login.in_(list(logins)))
    return {u.login: u for u in (await session.execute(stmt)).scalars()}


async def pipelines_started_by(
    session: AsyncSession, project_id: uuid.UUID, actor: str, *, before_number: int | None = None, limit: int = 20
) -> list[Pipeline]:
    """One project's pipelines that `actor` started, newest first (paged by number)."""
    stmt = select(Pipeline).where(Pipeline.project_id == project_id, Pipeline.trigger_actor == actor)
    if before_number is not None:
        stmt = stmt.where(Pipeline.number < before_number)
    return list((await session.execute(stmt.order_by(Pipeline.number.desc()).limit(limit))).scalars())


async def pipelines_of_projects(
    session: AsyncSession,
    project_ids: Collection[uuid.UUID] | None = None,
    *,
    actor: str | None = None,
    before: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 20,
    member: uuid.UUID | None = None,
) -> list[tuple[Pipeline, Project]]:
    """Pipelines across projects (all, or `project_ids`), newest first, paged by (created_at, id); with
    `member`, only of projects of the organizations that user works in."""
    stmt = select(Pipeline, Project).join(Project, Pipeline.project_id == Project.id)
    if (kept := visible_to(member)) is not None:
        stmt = stmt.where(kept)
    if project_ids is not None:
        stmt = stmt.where(Pipeline.project_id.in_(list(project_ids)))
    if actor is not None:
        stmt = stmt.where(Pipeline.trigger_actor == actor)
    if before is not None:
        created, pipeline_id = before
        stmt = stmt.where(
            or_(Pipeline.created_at < created, and_(Pipeline.created_at == created, Pipeline.id < pipeline_id))
        )
    stmt = stmt.order_by(Pipeline.created_at.desc(), Pipeline.id.desc()).limit(limit)
    return [(pipe, proj) for pipe, proj in await session.execute(stmt)]


async def serial_group_jobs(
    session: AsyncSession, organization_id: uuid.UUID, group: str, statuses: list[str]
) -> list[Job]:
    """Jobs of an organization's serial group in the given statuses, oldest first."""
    stmt = (
        select(Job)
        .join(Project, Project.id == Job.project_id)
        .where(Job.serial_group == group, Project.organization_id == organization_id, Job.status.in_(statuses))
        .order_by(Job.created_at, Job.id)
    )
    return list((await session.execute(stmt)).scalars())


async def latest_workflows(
    session: AsyncSession, project_id: uuid.UUID, name: str, branch: str | None, limit: int
) -> list[tuple[Workflow, Pipeline]]:
    """The newest `limit` runs of a workflow (reruns included), newest first; one branch unless None."""
    stmt = (
        select(Workflow, Pipeline)
        .join(Pipeline, Pipeline.id == Workflow.pipeline_id)
        .where(Pipeline.project_id == project_id, Workflow.name == name)
        .order_by(Workflow.created_at.desc(), Workflow.id.desc())
        .limit(limit)
    )
    if branch is not None:
        stmt = stmt.where(Pipeline.branch == branch)
    return [(w, p) for w, p in (await session.execute(stmt)).all()]


async def workflow_runs(
    session: AsyncSession, project_id: uuid.UUID, since: datetime, branch: str | None
) -> list[tuple[Workflow, Pipeline]]:
    """A project's workflows created since `since` (on one branch, or all when `branch` is None)."""
    stmt = (
        select(Workflow, Pipeline)
        .join(Pipeline, Pipeline.id == Workflow.pipeline_id)
        .where(Pipeline.project_id == project_id, Workflow.created_at >= since)
        .order_by(Workflow.created_at)
    )
    if branch is not None:
        stmt = stmt.where(Pipeline.branch == branch)
    return [(w, p) for w, p in (await session.execute(stmt)).all()]
