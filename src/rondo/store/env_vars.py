"""Queries on sealed environment variables: a project's, a context's, and the copies queued tasks carry."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store.models import ContextEnvVar, ProjectEnvVar, TaskSecrets

EnvVarRow = ProjectEnvVar | ContextEnvVar


_PROJECT_ENV_VARS = (
    select(ProjectEnvVar).where(ProjectEnvVar.project_id == bindparam("project_id")).order_by(ProjectEnvVar.name)
)


async def project_env_vars(session: AsyncSession, project_id: uuid.UUID) -> list[ProjectEnvVar]:
    return list((await session.execute(_PROJECT_ENV_VARS, {"project_id": project_id})).scalars())


async def project_env_var(session: AsyncSession, project_id: uuid.UUID, name: str) -> ProjectEnvVar | None:
    stmt = select(ProjectEnvVar).where(ProjectEnvVar.project_id == project_id, ProjectEnvVar.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def context_env_vars(session: AsyncSession, context_ids: Sequence[uuid.UUID]) -> list[ContextEnvVar]:
    if not context_ids:
        return []
    stmt = (
        select(ContextEnvVar)
        .where(ContextEnvVar.context_id.in_(list(context_ids)))
        .order_by(ContextEnvVar.context_id, ContextEnvVar.name)
    )
    return list((await session.execute(stmt)).scalars())


async def context_env_var(session: AsyncSession, context_id: uuid.UUID, name: str) -> ContextEnvVar | None:
    stmt = select(ContextEnvVar).where(ContextEnvVar.context_id == context_id, ContextEnvVar.name == name)
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_context_env_vars(session: AsyncSession, context_id: uuid.UUID) -> None:
    await session.execute(delete(ContextEnvVar).where(ContextEnvVar.context_id == context_id))


async def task_secrets(session: AsyncSession, task_id: uuid.UUID) -> TaskSecrets | None:
    return await session.get(TaskSecrets, task_id)


async def drop_task_secrets(session: AsyncSession, task_id: uuid.UUID) -> None:
    await session.execute(delete(TaskSecrets).where(TaskSecrets.task_id == task_id))


async def env_var_page(
    session: AsyncSession, model: type[EnvVarRow], after: uuid.UUID | None, limit: int
) -> list[EnvVarRow]:
    """Rows of one env var table in id order, for walking all of them (key rotation)."""
    stmt = select(model).order_by(model.id).limit(limit)
    if after is not None:
        stmt = stmt.where(model.id > after)
    rows: list[EnvVarRow] = [r for r in (await session.execute(stmt)).scalars() if isinstance(r, model)]
    return rows


async def task_secrets_page(session: AsyncSession, after: uuid.UUID | None, limit: int) -> list[TaskSecrets]:
    stmt = select(TaskSecrets).order_by(TaskSecrets.task_id).limit(limit)
    if after is not None:
        stmt = stmt.where(TaskSecrets.task_id > after)
    return list((await session.execute(stmt)).scalars())
