"""v1.1 SSH keys: /checkout-key (checkout keys), /ssh-key (additional keys) and /settings (which lists them).

Private keys go in (additional keys) but never come out: answers carry public keys and fingerprints.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, Field

from rondo.domain.slugs import ProjectSlug
from rondo.ops.audit import Origin
from rondo.server.actions import api_errors, user_origin
from rondo.server.api_v2.checkout_keys import add_checkout_key_routes, fingerprint_in
from rondo.server.api_v2.env_vars import project_of
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import CheckoutKey, ProjectSshKey, User

router = APIRouter(prefix="/api/v1.1", tags=["v1.1"])
PROJECT = "/project/{vcs}/{org}/{repo}"


class SshKeyRequest(BaseModel):
    hostname: str | None = Field(default=None, max_length=253, description="the host it is for; none: every host")
    private_key: str = Field(min_length=1)


class SshKeyDeleteRequest(BaseModel):
    fingerprint: str = Field(min_length=1, max_length=200)
    hostname: str | None = Field(default=None, max_length=253)


def checkout_key_json(row: CheckoutKey, preferred: bool, digest: str | None) -> dict[str, Any]:
    return {
        "public_key": row.public_key,
        "type": row.type,
        "fingerprint": fingerprint_in(row, digest),
        "preferred": preferred,
        "time": iso(row.created_at),
        "login": row.login,
    }


def ssh_key_json(row: ProjectSshKey) -> dict[str, Any]:
    return {"hostname": row.hostname, "fingerprint": row.fingerprint, "public_key": row.public_key}


add_checkout_key_routes(router, checkout_key_json, lambda items: items, list[dict[str, Any]], "ok")


@router.post(PROJECT + "/ssh-key")
async def add_ssh_key(
    vcs: str,
    org: str,
    repo: str,
    body: SshKeyRequest,
    origin: Origin = Depends(user_origin),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Add an additional key for `add_ssh_keys`; the answer names its fingerprint (the key itself never)."""
    project = await project_of(svc, user, vcs, org, repo)
    with api_errors():
        row = await svc.ssh_keys.add_ssh_key(project.id, body.hostname, body.private_key, origin)
    return ssh_key_json(row)


@router.delete(PROJECT + "/ssh-key")
async def delete_ssh_key(
    vcs: str,
    org: str,
    repo: str,
    body: SshKeyDeleteRequest | None = Body(default=None),
    fingerprint: str | None = None,
    hostname: str | None = None,
    origin: Origin = Depends(user_origin),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, str]:
    """Delete by `{fingerprint, hostname}` (the body, or query parameters for clients that send none)."""
    wanted = body.fingerprint if body else fingerprint
    host = body.hostname if body else hostname
    if not wanted:
        raise ApiError(400, 'Say which key: {"fingerprint": "…", "hostname": "…"}')
    project = await project_of(svc, user, vcs, org, repo)
    with api_errors():
        await svc.ssh_keys.delete_ssh_key(project.id, wanted, host, origin)
    return {"message": "ok"}


@router.get(PROJECT + "/settings")
async def project_settings(
    vcs: str, org: str, repo: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """The project's settings as v1.1 shows them: its additional SSH keys (hostname and fingerprint) and
    advanced settings."""
    project = await project_of(svc, user, vcs, org, repo)
    slug = ProjectSlug.parse(project.slug)
    with api_errors():
        keys = await svc.ssh_keys.ssh_keys(project.id)
        advanced = await svc.project_env.settings(project.id)
    return {
        "vcs_url": project.vcs_url,
        "vcs_type": slug.vcs_type,
        "username": slug.org,
        "reponame": slug.repo,
        "default_branch": project.default_branch,
        "ssh_keys": [ssh_key_json(k) for k in keys],
        "feature_flags": advanced,
    }
