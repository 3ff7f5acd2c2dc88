"""/api/v2/webhook: a project's outbound webhooks (list, create; read, change, delete by id), as CircleCI has them.

Fields are kebab-case (`verify-tls`, `signing-secret`, `created-at`); the signing secret is only ever
answered masked. Like a project's environment variables, anyone who works in the project's organization
may manage them; to others the project and its webhooks do not exist.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rondo.domain.webhooks import EVENT_TYPES, MAX_NAME, MAX_SECRET, MAX_URL
from rondo.engine.webhooks import WebhookSpec
from rondo.ops.audit import Origin
from rondo.server import lookups
from rondo.server.actions import api_errors, user_origin
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store import projects as project_q
from rondo.store.models import User, Webhook

router = APIRouter(prefix="/api/v2", tags=["Webhook"])

TEXT = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL characters
Event = Literal["workflow-completed", "job-completed"]
URL_DOC = "Where to POST events: an http:// or https:// URL (CircleCI takes https only)"
SECRET_DOC = "Key of the HMAC-SHA256 signature sent in `circleci-signature` (empty: no signature); shown masked"


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="The project's id", max_length=100, pattern=TEXT)
    type: Literal["project"] = Field(description="Webhooks belong to a project")


class CreateWebhookRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=TEXT)
    events: list[Event] = Field(min_length=1, max_length=len(EVENT_TYPES) * 4)
    url: str = Field(min_length=1, max_length=MAX_URL, description=URL_DOC)
    verify_tls: bool = Field(alias="verify-tls", description="Check the receiver's TLS certificate")
    signing_secret: str = Field(alias="signing-secret", max_length=MAX_SECRET, pattern=TEXT, description=SECRET_DOC)
    scope: Scope


class UpdateWebhookRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=MAX_NAME, pattern=TEXT)
    events: list[Event] | None = Field(None, min_length=1, max_length=len(EVENT_TYPES) * 4)
    url: str | None = Field(None, min_length=1, max_length=MAX_URL, description=URL_DOC)
    verify_tls: bool | None = Field(None, alias="verify-tls")
    signing_secret: str | None = Field(
        None, alias="signing-secret", max_length=MAX_SECRET, pattern=TEXT, description=SECRET_DOC
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> UpdateWebhookRequest:
        for field in self.model_fields_set:
            if getattr(self, field) is None:
                raise ValueError(f"{field.replace('_', '-')} cannot be null; leave it out to keep it")
        return self


def webhook_json(hook: Webhook) -> dict[str, Any]:
    return {
        "id": str(hook.id),
        "scope": {"id": str(hook.project_id), "type": "project"},
        "name": hook.name,
        "events": list(hook.events),
        "url": hook.url,
        "verify-tls": hook.verify_tls,
        "signing-secret": hook.masked_secret,
        "created-at": iso(hook.created_at),
        "updated-at": iso(hook.updated_at),
    }


@router.get("/webhook")
async def list_webhooks(
    scope_id: str = Query(alias="scope-id", max_length=100, description="The project's id"),
    scope_type: Literal["project"] = Query(alias="scope-type"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """A project's webhooks (at most 5, so one page)."""
    project_id = lookups.parse_uuid(scope_id, "Project")
    async with svc.db.session() as session:
        await lookups.project_by_id(session, user, project_id)
    with api_errors():
        hooks = await svc.webhooks.list_for(project_id)
    return {"items": [webhook_json(h) for h in hooks], "next_page_token": None}


@router.post("/webhook", status_code=201)
async def create_webhook(
    body: CreateWebhookRequest,
    origin: Origin = Depends(user_origin),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    await _refuse_unseen_scope(svc, user, body.scope.id)
    spec = WebhookSpec(
        name=body.name,
        events=list(body.events),
        url=body.url,
        verify_tls=body.verify_tls,
        signing_secret=body.signing_secret,
        scope_id=body.scope.id,
        scope_type=body.scope.type,
    )
    with api_errors():
        return webhook_json(await svc.webhooks.create(spec, origin))


async def _refuse_unseen_scope(svc: Services, user: User, scope_id: str) -> None:
    """A project the user may not see is, to them, not a project on this server (the service's 400)."""
    try:
        project_id = uuid.UUID(scope_id)
    except ValueError:
        return  # the service says what is wrong with it
    async with svc.db.session() as session:
        found = await project_q.project_by_id_for(session, project_id, user.id)
    if found is not None and not lookups.may_see(user, *found):
        raise ApiError(400, f"scope.id {scope_id} is not the id of a project on this server")


async def _webhook_of_viewer(svc: Services, user: User, webhook_id: str) -> uuid.UUID:
    async with svc.db.session() as session:
        await lookups.webhook_project(session, user, webhook_id)
    return lookups.parse_uuid(webhook_id, "Webhook")


@router.get("/webhook/{webhook_id}")
async def get_webhook(
    webhook_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    hook_id = await _webhook_of_viewer(svc, user, webhook_id)
    with api_errors():
        return webhook_json(await svc.webhooks.get(hook_id))


@router.put("/webhook/{webhook_id}")
async def update_webhook(
    webhook_id: str,
    body: UpdateWebhookRequest,
    origin: Origin = Depends(user_origin),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise ApiError(400, "Nothing to change: give name, events, url, verify-tls or signing-secret")
    hook_id = await _webhook_of_viewer(svc, user, webhook_id)
    with api_errors():
        return webhook_json(await svc.webhooks.update(hook_id, changes, origin))


@router.delete("/webhook/{webhook_id}")
async def delete_webhook(
    webhook_id: str,
    origin: Origin = Depends(user_origin),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, str]:
    hook_id = await _webhook_of_viewer(svc, user, webhook_id)
    with api_errors():
        await svc.webhooks.delete(hook_id, origin)
    return {"message": "Webhook deleted."}
