"""The project and context variables a job gets: checked and chosen when it is queued, opened when claimed.

At queue time the job's contexts are looked up in its project's organization. An unknown context, a
triggering user who does not work in the organization (when it lists its members), or a restricted
context the user may not use, makes the job `unauthorized` (it never sees the values).
Otherwise the sealed values are copied, still sealed, beside the task (`task_secrets`), and only opened
when an agent claims it: they reach the agent in the task spec and are never stored in clear.

Precedence (CONFIG-SPEC §5.4): step and job `environment` over CircleCI's built-in variables over
context variables over project variables. Among several contexts, a later one in the job's list wins.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.agent_protocol import TaskSpec
from rondo.domain.ssh_keys import secret_fragments
from rondo.engine import job_ssh_keys
from rondo.secrets.envelope import Sealed, SecretBox, env_var_aad
from rondo.store import contexts as context_q
from rondo.store import env_vars as env_q
from rondo.store import groups as group_q
from rondo.store import organization_members as member_q
from rondo.store import projects as project_q
from rondo.store import users as user_q
from rondo.store.models import ContextEnvVar, Project, ProjectEnvVar, TaskSecrets


@dataclass(frozen=True)
class Unauthorized:
    """Why a job may not have its contexts."""

    message: str


def context_names(contexts: list[Any]) -> list[str]:
    """The job's `context:` names, each once, in the order given."""
    seen: dict[str, None] = {}
    for name in contexts or []:
        seen.setdefault(str(name), None)
    return list(seen)


def _entry(owner_type: str, owner_id: uuid.UUID, row: ProjectEnvVar | ContextEnvVar) -> dict[str, str]:
    return {
        "name": row.name,
        "aad": env_var_aad(owner_type, owner_id, row.name),
        "wrapped_dek": row.wrapped_dek,
        "ciphertext": row.ciphertext,
    }


async def choose(
    session: AsyncSession, project: Project, contexts: list[Any], actor_login: str
) -> list[dict[str, str]] | Unauthorized:
    """The sealed variables the job gets, or why it may not run (its contexts are unknown or restricted)."""
    names = context_names(contexts)
    org = await project_q.organization(session, project.organization_id)
    found = await context_q.contexts_named(session, org.id, names)
    missing = [n for n in names if n not in found]
    if missing:
        return Unauthorized(f"Context {missing[0]!r} does not exist in organization {org.slug}.")
    ordered = [found[n] for n in names]
    user = await user_q.user_by_login(session, actor_login) if ordered else None
    if ordered and not await member_q.works_in(session, org.id, user if user and not user.suspended else None):
        who = f"user {actor_login}" if user else f"{actor_login!r} (not a user of this server)"
        return Unauthorized(f"Context {ordered[0].name!r} belongs to {org.slug}, which {who} does not work in.")
    restrictions = await context_q.restrictions_of(session, [c.id for c in ordered])
    if restrictions:
        groups = await group_q.group_ids_of_user(session, user.id) if user and not user.suspended else set()
        for ctx in ordered:
            mine = [r for r in restrictions if r.context_id == ctx.id]
            allowed_groups = {r.restriction_value for r in mine if r.restriction_type == "group"}
            if allowed_groups and not allowed_groups & {str(g) for g in groups}:
                who = f"user {actor_login}" if user else f"{actor_login!r} (not a user of this server)"
                return Unauthorized(
                    f"Context {ctx.name!r} is restricted to security groups that {who} is not a member of."
                )
            allowed_projects = {r.restriction_value for r in mine if r.restriction_type == "project"}
            if allowed_projects and str(project.id) not in allowed_projects:
                return Unauthorized(f"Context {ctx.name!r} is restricted to other projects than {project.slug}.")
    chosen: dict[str, dict[str, str]] = {}
    for row in await env_q.project_env_vars(session, project.id):
        chosen[row.name] = _entry("project", project.id, row)
    by_context: dict[uuid.UUID, list[ContextEnvVar]] = {}
    for crow in await env_q.context_env_vars(session, [c.id for c in ordered]):
        by_context.setdefault(crow.context_id, []).append(crow)
    for ctx in ordered:
        for crow in by_context.get(ctx.id, []):
            chosen[crow.name] = _entry("context", ctx.id, crow)
    return list(chosen.values())


def keep_for_task(session: AsyncSession, task_id: uuid.UUID, entries: list[dict[str, str]]) -> None:
    if entries:
        session.add(TaskSecrets(task_id=task_id, entries=entries))


async def drop_for_task(session: AsyncSession, task_id: uuid.UUID) -> None:
    """A finished task needs its copies no more."""
    await env_q.drop_task_secrets(session, task_id)


async def sealed_for_task(session: AsyncSession, task_id: uuid.UUID) -> list[dict[str, str]]:
    row = await env_q.task_secrets(session, task_id)
    return list(row.entries) if row is not None else []


async def open_into(box: SecretBox, spec: TaskSpec, entries: list[dict[str, str]]) -> TaskSpec:
    """The spec with its variables and SSH keys opened: variables underneath the job's own and built-in
    ones, keys where the checkout and `add_ssh_keys` steps find them, and all of them listed to mask."""
    if not entries:
        return spec
    values = await asyncio.gather(*(box.open(Sealed(e["wrapped_dek"], e["ciphertext"]), e["aad"]) for e in entries))
    secret_env: dict[str, str] = {}
    masked: set[str] = set()
    checkout_key = spec.checkout_key
    ssh_keys = list(spec.ssh_keys)
    for entry, value in zip(entries, values, strict=True):
        kind = entry.get("kind")
        if kind == job_ssh_keys.CHECKOUT_KEY:
            checkout_key = job_ssh_keys.key_spec(entry, value)
        elif kind == job_ssh_keys.SSH_KEY:
            ssh_keys.append(job_ssh_keys.key_spec(entry, value))
        else:
            secret_env[entry["name"]] = value
        masked.update(secret_fragments(value) if kind else [value])
    return spec.model_copy(
        update={
            "environment": {**secret_env, **spec.environment},
            "checkout_key": checkout_key,
            "ssh_keys": ssh_keys,
            "secret_values": sorted(masked),
        }
    )
