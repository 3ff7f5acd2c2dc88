"""Outbound webhooks of a project: create, change, delete (each audited), the signing secret sealed.

The secret is sealed like an environment variable's value and only ever shown masked. Sending is
`rondo.ops.webhook_outbox` (what to send, written with the status change) and `rondo.ops.webhook_sender`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.webhooks import (
    MAX_PER_PROJECT,
    SCOPE_TYPES,
    WebhookError,
    check_events,
    check_name,
    check_secret,
    check_url,
    safe_url,
)
from rondo.engine.project_env import seal
from rondo.engine.workflow_actions import ActionError
from rondo.ops.audit import Origin, Ref, org_ref, record
from rondo.secrets.envelope import SecretBox, webhook_secret_aad
from rondo.secrets.masking import masked
from rondo.store import projects as project_q
from rondo.store import webhooks as webhook_q
from rondo.store.db import Database
from rondo.store.models import Project, Webhook
from rondo.store.types import utcnow

EDITABLE = ("name", "events", "url", "verify_tls", "signing_secret")


@dataclass(frozen=True)
class WebhookSpec:
    name: str
    events: Sequence[str]
    url: str
    verify_tls: bool
    signing_secret: str
    scope_id: str
    scope_type: str = "project"


def webhook_not_found() -> ActionError:
    return ActionError(404, "Webhook not found")


def _bad(exc: WebhookError) -> ActionError:
    return ActionError(400, str(exc))


def _project_id(spec: WebhookSpec) -> uuid.UUID:
    if spec.scope_type not in SCOPE_TYPES:
        raise ActionError(400, f"scope.type must be 'project' (webhooks belong to a project), not {spec.scope_type!r}")
    try:
        return uuid.UUID(spec.scope_id)
    except ValueError:
        raise ActionError(400, f"scope.id must be a project's id (a UUID), not {spec.scope_id!r}") from None


class WebhookService:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def list_for(self, project_id: uuid.UUID) -> list[Webhook]:
        async with self._db.session() as session:
            if await project_q.project_by_id(session, project_id) is None:
                raise ActionError(404, "Project not found")
            return await webhook_q.project_webhooks(session, project_id)

    async def get(self, webhook_id: uuid.UUID) -> Webhook:
        async with self._db.session() as session:
            hook = await webhook_q.webhook_by_id(session, webhook_id)
        if hook is None:
            raise webhook_not_found()
        return hook

    async def create(self, spec: WebhookSpec, origin: Origin) -> Webhook:
        """Validate, seal the secret, save (project.webhook.create); ActionError 400 says what is wrong."""
        project_id = _project_id(spec)
        try:
            name, events, url = check_name(spec.name), check_events(spec.events), check_url(spec.url)
            secret = check_secret(spec.signing_secret)
        except WebhookError as exc:
            raise _bad(exc) from None
        hook_id = uuid.uuid4()
        sealed = await seal(self._box, secret, webhook_secret_aad(hook_id))
        now = utcnow()
        async with self._db.session() as session:
            project = await project_q.project_by_id(session, project_id)
            if project is None:
                raise ActionError(400, f"scope.id {spec.scope_id} is not the id of a project on this server")
            if await webhook_q.count_project_webhooks(session, project_id) >= MAX_PER_PROJECT:
                raise ActionError(
                    400, f"{project.slug} already has {MAX_PER_PROJECT} webhooks, the most a project can have"
                )
            hook = Webhook(
                id=hook_id,
                project_id=project_id,
                name=name,
                url=url,
                events=events,
                verify_tls=spec.verify_tls,
                masked_secret=masked(secret),
                wrapped_dek=sealed.wrapped_dek,
                ciphertext=sealed.ciphertext,
                created_at=now,
                updated_at=now,
            )
            session.add(hook)
            await self._audit(session, "project.webhook.create", hook, project, origin, {})
        return hook

    async def update(self, webhook_id: uuid.UUID, changes: Mapping[str, Any], origin: Origin) -> Webhook:
        """Change the given fields (keys of EDITABLE) (project.webhook.update, with what changed)."""
        unknown = sorted(set(changes) - set(EDITABLE))
        if unknown:
            raise ActionError(400, f"cannot change {', '.join(unknown)}")
        try:
            checked: dict[str, Any] = {
                "name": check_name,
                "events": check_events,
                "url": check_url,
                "verify_tls": bool,
                "signing_secret": check_secret,
            }
            values = {key: checked[key](value) for key, value in changes.items()}
        except WebhookError as exc:
            raise _bad(exc) from None
        sealed = None
        if "signing_secret" in values:
            sealed = await seal(self._box, values["signing_secret"], webhook_secret_aad(webhook_id))
        async with self._db.session() as session:
            hook = await webhook_q.webhook_by_id(session, webhook_id)
            if hook is None:
                raise webhook_not_found()
            changed: dict[str, Any] = {}
            for key in ("name", "events", "url", "verify_tls"):
                if key in values and getattr(hook, key) != values[key]:
                    old, new = getattr(hook, key), values[key]
                    if key == "url":
                        old, new = safe_url(old), safe_url(new)
                    changed[key.replace("_", "-")] = {"from": old, "to": new}
                    setattr(hook, key, values[key])
            if sealed is not None:
                hook.masked_secret = masked(values["signing_secret"])
                hook.wrapped_dek, hook.ciphertext = sealed.wrapped_dek, sealed.ciphertext
                changed["signing-secret"] = {"changed": True}  # never the value
            hook.updated_at = utcnow()
            project = await project_q.project_by_id(session, hook.project_id)
            assert project is not None
            await self._audit(session, "project.webhook.update", hook, project, origin, {"changed": changed})
        return hook

    async def delete(self, webhook_id: uuid.UUID, origin: Origin) -> None:
        """Delete the webhook and its undelivered and past deliveries (project.webhook.delete)."""
        async with self._db.session() as session:
            hook = await webhook_q.webhook_by_id(session, webhook_id)
            if hook is None:
                raise webhook_not_found()
            project = await project_q.project_by_id(session, hook.project_id)
            assert project is not None
            await webhook_q.drop_deliveries_of(session, hook.id)
            await session.delete(hook)
            await self._audit(session, "project.webhook.delete", hook, project, origin, {})

    async def _audit(
        self,
        session: AsyncSession,
        action: str,
        hook: Webhook,
        project: Project,
        origin: Origin,
        extra: dict[str, Any],
    ) -> None:
        org = await project_q.organization(session, project.organization_id)
        payload = {
            "webhook": {
                "name": hook.name,
                "url": safe_url(hook.url),  # no query or credentials: receivers often keep a token there
                "events": list(hook.events),
                "verify-tls": hook.verify_tls,
            },
            "project": {"id": str(project.id), "slug": project.slug},
            **extra,
        }
        record(session, action, origin, Ref(str(hook.id), "webhook", hook.name), org_ref(org), payload)
