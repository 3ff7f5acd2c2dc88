"""Project API tokens: made, listed and revoked per project (each audited), and checked on requests.

The value is shown once, when the token is made; only its HMAC digest is kept, like a personal token's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.project_tokens import SCOPES, actor_name, allows
from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import Origin, Ref, org_ref, record
from rondo.secrets.tokens import PROJECT_TOKEN_PREFIX, display_prefix, new_token, token_digest
from rondo.store import projects as project_q
from rondo.store import users as user_q
from rondo.store.db import Database
from rondo.store.models import ApiToken, Project

MAX_LABEL = 200


@dataclass(frozen=True)
class ProjectGrant:
    """A project API token that authenticated a request: what it may touch, and how far."""

    token_id: uuid.UUID
    project_id: uuid.UUID
    scope: str
    label: str

    @classmethod
    def of(cls, token: ApiToken) -> ProjectGrant:
        assert token.project_id is not None and token.scope is not None
        return cls(token.id, token.project_id, token.scope, token.label)

    @property
    def actor(self) -> str:
        """The name pipelines and workflows it starts are attributed to."""
        return actor_name(self.label)

    def allows(self, needed: str) -> bool:
        return allows(self.scope, needed)

    def ref(self) -> Ref:
        """The audit log's actor for what it does."""
        return Ref(str(self.token_id), "project_token", self.label)


def _token_not_found() -> ActionError:
    return ActionError(404, "Token not found")


class ProjectTokens:
    def __init__(self, db: Database, server_key: bytes) -> None:
        self._db = db
        self._key = server_key

    async def _project(self, session: AsyncSession, project_id: uuid.UUID) -> Project:
        project = await project_q.project_by_id(session, project_id)
        if project is None:
            raise ActionError(404, "Project not found")
        return project

    async def _audit(
        self, session: AsyncSession, action: str, project: Project, token: ApiToken, origin: Origin
    ) -> None:
        org = await project_q.organization(session, project.organization_id)
        payload = {"token": {"id": str(token.id), "label": token.label, "scope": token.scope}}
        record(session, action, origin, Ref(str(project.id), "project", project.slug), org_ref(org), payload)

    async def create(
        self, project_id: uuid.UUID, scope: str, label: str, origin: Origin, user_id: uuid.UUID | None
    ) -> tuple[ApiToken, str]:
        """A new token and its value, which is never shown again (project.api_token.create)."""
        if scope not in SCOPES:
            raise ActionError(400, f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
        label = label.strip()
        if not label or len(label) > MAX_LABEL:
            raise ActionError(400, f"label must be 1 to {MAX_LABEL} characters: a name that says what the token is for")
        value = new_token(PROJECT_TOKEN_PREFIX)
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            token = await user_q.add_token(
                session,
                kind="project",
                digest=token_digest(self._key, value),
                display=display_prefix(value),
                label=label,
                user_id=user_id,
                project_id=project.id,
                scope=scope,
            )
            await self._audit(session, "project.api_token.create", project, token, origin)
        return token, value

    async def list_all(self, project_id: uuid.UUID) -> list[ApiToken]:
        async with self._db.session() as session:
            await self._project(session, project_id)
            return await user_q.project_tokens(session, project_id)

    async def revoke(self, project_id: uuid.UUID, token: str, origin: Origin) -> ApiToken:
        """Revoke a token named by its id or by its value; it stops working at once (project.api_token.delete)."""
        async with self._db.session() as session:
            project = await self._project(session, project_id)
            found = next((t for t in await user_q.project_tokens(session, project.id) if str(t.id) == token), None)
            if found is None:
                found = await user_q.token_by_digest(session, token_digest(self._key, token), "project")
            if found is None or found.project_id != project.id:
                raise _token_not_found()
            found.revoked = True
            await self._audit(session, "project.api_token.delete", project, found, origin)
            return found
