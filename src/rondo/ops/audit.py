"""The audit log: who did what, in the fields of CircleCI Server's audit log, written with the action itself.

`record` adds the event to the caller's transaction, so an action and its event are committed together
(or neither is). Events are append-only (the database refuses UPDATE and DELETE). `docs/audit-log.md`
describes every action; `ACTIONS` is the list the code may record.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.store import audit as audit_q
from rondo.store.models import AuditEvent, Organization, User
from rondo.store.types import utcnow

SCHEMA_VERSION = 1

# action -> what it records (CircleCI Server's events, then the administrator actions Rondo adds)
ACTIONS: dict[str, str] = {
    "context.create": "a context was created",
    "context.delete": "a context was deleted, with its variables and restrictions",
    "context.env_var.delete": "a context environment variable was deleted",
    "context.env_var.store": "a context environment variable was created or replaced",
    "context.restriction.create": "a context was restricted to a security group or project",
    "context.restriction.delete": "a context restriction was removed",
    "project.api_token.create": "a project API token was created",
    "project.api_token.delete": "a project API token was revoked",
    "project.env_var.create": "a project environment variable was created or replaced",
    "project.env_var.delete": "a project environment variable was deleted",
    "project.settings.update": "a project's advanced settings were changed",
    "project.webhook.create": "an outbound webhook was added to a project",
    "project.webhook.update": "an outbound webhook was changed",
    "project.webhook.delete": "an outbound webhook was deleted, with its pending deliveries",
    "project.checkout_key.create": "a checkout key (deploy key) was made for a project",
    "project.checkout_key.delete": "a project's checkout key was deleted",
    "project.ssh_key.create": "an additional SSH key was added to a project",
    "project.ssh_key.delete": "an additional SSH key was removed from a project",
    "user.create": "a user account was created",
    "user.logged_in": "a user signed in to the web UI",
    "user.logged_out": "a user signed out of the web UI",
    "workflow.job.approve": "an approval job was approved",
    "workflow.job.finish": "a job finished (any final status, unauthorized included)",
    "workflow.job.scheduled": "a job was queued to run",
    "workflow.job.start": "an agent started running a job",
    "user.suspend": "an administrator suspended a user",
    "user.activate": "an administrator activated a suspended user",
    "agent.drain": "an administrator drained an agent, or let it claim work again",
    "settings.update": "an administrator changed system settings",
    "group.create": "a security group was created",
    "group.delete": "a security group was deleted",
    "group.member.add": "a user was added to a security group",
    "group.member.remove": "a user was removed from a security group",
    "system.backup": "an operator backed the installation up (`rondo backup`)",
    "system.restore": "an operator restored the installation from a backup (`rondo restore`)",
    "organization.member.add": "an administrator listed a user as a member of an organization",
    "organization.member.remove": "an administrator removed a user from an organization's members",
    "orb.namespace.create": "an orb namespace was created or imported",
    "orb.create": "an orb was created or imported in a namespace",
    "orb.version.publish": "an orb version was published or imported",
    "orb.version.promote": "an orb's dev version was promoted to a release",
}

CSV_COLUMNS = [
    "id",
    "version",
    "action",
    "actor",
    "target",
    "payload",
    "occurred_at",
    "metadata",
    "scope",
    "success",
    "request",
]


@dataclass(frozen=True)
class Ref:
    """An actor, target or scope: always an id and a type, and a name for people."""

    id: str
    type: str
    name: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "type": self.type, "name": self.name}


@dataclass(frozen=True)
class RequestInfo:
    """The external request an event came from: Rondo's request id, the client's address and trace id."""

    id: str
    ip_address: str | None = None
    client_trace_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "ip_address": self.ip_address, "client_trace_id": self.client_trace_id}


@dataclass(frozen=True)
class Origin:
    """Who did it, and through which request (none for what Rondo does by itself)."""

    actor: Ref
    request: RequestInfo | None = None


SYSTEM = Ref("rondo", "system", "Rondo")
SERVER_SCOPE = Ref("rondo", "server", "Rondo")


def user_ref(user: User) -> Ref:
    return Ref(str(user.id), "user", user.login)


def org_ref(org: Organization) -> Ref:
    return Ref(str(org.id), "organization", org.slug)


def record(
    session: AsyncSession,
    action: str,
    origin: Origin,
    target: Ref,
    scope: Ref,
    payload: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
    *,
    success: bool = True,
) -> AuditEvent:
    """Add one event to the session's transaction. Payloads never carry secret values, only names."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; add it to ACTIONS and docs/audit-log.md")
    event = AuditEvent(
        id=uuid.uuid4(),
        version=SCHEMA_VERSION,
        action=action,
        actor=origin.actor.as_dict(),
        target=target.as_dict(),
        payload=payload or {},
        occurred_at=utcnow(),
        meta={str(k): str(v) for k, v in (metadata or {}).items()},
        scope=scope.as_dict(),
        success=success,
        request=origin.request.as_dict() if origin.request else None,
    )
    audit_q.append(session, event)
    return event


def occurred_at_text(event: AuditEvent) -> str:
    """UTC ISO-8601 with fractional seconds and a Z, e.g. 2017-12-21T13:50:54.474123Z."""
    return event.occurred_at.isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "version": event.version,
        "action": event.action,
        "actor": event.actor,
        "target": event.target,
        "payload": event.payload,
        "occurred_at": occurred_at_text(event),
        "metadata": event.meta,
        "scope": event.scope,
        "success": event.success,
        "request": event.request,
    }


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list) or value is None:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def csv_lines(events: list[AuditEvent], *, header: bool = False) -> str:
    """CSV text for events (nested fields as JSON), with the header line first if asked."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for event in events:
        row = event_json(event)
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()
