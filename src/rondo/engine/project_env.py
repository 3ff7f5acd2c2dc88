"""A project's environment variables (sealed, shown masked) and its advanced settings, each change audited."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import Origin, Ref, org_ref, record
from rondo.secrets.envelope import Sealed, SecretBox, SecretsError, env_var_aad
from rondo.secrets.masking import masked
from rondo.store import env_vars as env_q
from rondo.store import projects as project_q
from rondo.store.db import Database
from rondo.store.models import Project, ProjectEnvVar
from rondo.store.types import utcnow

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 256
MAX_VALUE = 32 * 1024

# CircleCI's advanced project settings and their defaults (API v2 `/project/{slug}/settings`).
ADVANCED_DEFAULTS: dict[str, Any] = {
    "autocancel_builds": False,
    "build_fork_prs": False,
    "build_prs_only": False,
    "disable_ssh": False,
    "forks_receive_secret_env_vars": False,
    "oss": False,
    "set_github_status": True,
    "setup_workflows": False,
    "write_settings_requires_admin": False,
    "pr_only_branch_overrides": ["main"],
}


def check_name(name: str) -> None:
    if not name or len(name) > MAX_NAME or not NAME.match(name):
        raise ActionError(
            400,
            f"{name!r} is not a valid environment variable name: use letters, digits and underscores, "
            "not starting with a digit",
        )


def check_value(value: str) -> None:
    if len(value) > MAX_VALUE:
        raise ActionError(400, f"The value is {len(value)} characters long; the limit is {MAX_VALUE}.")
    if "\x00" in value:
        raise ActionError(400, "The value contains a NUL character, which no environment variable can hold.")


async def seal(box: SecretBox, value: str, aad: str) -> Sealed:
    """Seal a value; a master key that cannot be used (Vault down or refusing) is a 503 that says why."""
    try:
        return await box.seal(value, aad)
    except SecretsError as exc:
        raise ActionError(503, f"The value cannot be encrypted now: {exc}") from None


def env_var_not_found() -> ActionError:
    return ActionError(404, "Environment variable not found.")


class ProjectEnvVars:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def _project(self, session: AsyncSession, project_id: uuid.UUID) -> Project:
        project = await project_q.project_by_id(session, project_id)
        if project is None:
            raise ActionError(404, "Project not found")
        return project

    async def list_all(self, project_id: uuid.UUID) -> list[ProjectEnvVar]:
        async with self._db.session() as session:
            return await env_q.project_env_vars(session, project_id)

    async def get(self, project_id: uuid.UUID, name: str) -> ProjectEnvVar:
        async with self._db.session() as session:
            row = await env_q.project_env_var(session, project_id, name)
        if row is None:
            raise env_var_not_found()
        return row

    async def put(self, project_id: uuid.UUID, name: str, value: str, origin: Origin) -> ProjectEnvVar:
        """Create the variable, or replace its value (project.env_var.create)."""
        check_name(name)
        check_value(value)
        sealed = await seal(self._box, value, env_var_aad("project", project_id, name))
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            row = await env_q.project_env_var(session, project_id, name)
            now = utcnow()
            replaced = row is not None
            if row is None:
                row = ProjectEnvVar(project_id=project_id, name=name, created_at=now)
                session.add(row)
            row.masked_value = masked(value)
            row.wrapped_dek, row.ciphertext = sealed.wrapped_dek, sealed.ciphertext
            row.updated_at = now
            await self._audit(session, "project.env_var.create", project, origin, name, {"replaced": replaced})
        return row

    async def delete(self, project_id: uuid.UUID, name: str, origin: Origin) -> None:
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            row = await env_q.project_env_var(session, project_id, name)
            if row is None:
                raise env_var_not_found()
            await session.delete(row)
            await self._audit(session, "project.env_var.delete", project, origin, name, {})

    async def _audit(
        self, session: AsyncSession, action: str, project: Project, origin: Origin, name: str, extra: dict[str, Any]
    ) -> None:
        org = await project_q.organization(session, project.organization_id)
        target = Ref(str(project.id), "project", project.slug)
        record(session, action, origin, target, org_ref(org), {"env_var": {"name": name}, **extra})

    # ---- advanced settings ------------------------------------------------------------------

    async def settings(self, project_id: uuid.UUID) -> dict[str, Any]:
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            return {**ADVANCED_DEFAULTS, **(project.settings or {})}

    async def update_settings(self, project_id: uuid.UUID, changes: dict[str, Any], origin: Origin) -> dict[str, Any]:
        """Change some advanced settings (project.settings.update, with the old and new values)."""
        unknown = sorted(set(changes) - set(ADVANCED_DEFAULTS))
        if unknown:
            raise ActionError(400, f"Unknown advanced settings: {', '.join(unknown)}.")
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            current = {**ADVANCED_DEFAULTS, **(project.settings or {})}
            changed = {k: {"from": current[k], "to": v} for k, v in changes.items() if current[k] != v}
            project.settings = {**(project.settings or {}), **changes}
            org = await project_q.organization(session, project.organization_id)
            target = Ref(str(project.id), "project", project.slug)
            record(session, "project.settings.update", origin, target, org_ref(org), {"changed": changed})
            return {**current, **changes}
