"""/api/v2/project/{slug}/checkout-key: a project's checkout keys (kebab-case fields); private halves never leave.

`digest=sha256` shows SHA256 fingerprints instead of MD5 ones; either form finds a key by fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from rondo.ops.audit import Origin
from rondo.server.actions import api_errors, user_origin
from rondo.server.api_v2.env_vars import project_of
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import CheckoutKey, User

router = APIRouter(prefix="/api/v2", tags=["Project"])
PATH = "/project/{vcs}/{org}/{repo}/checkout-key"


class CheckoutKeyRequest(BaseModel):
    type: str = Field(min_length=1, max_length=40, description="deploy-key (user-key needs GitHub sign-in)")


def fingerprint_in(row: CheckoutKey, digest: str | None) -> str:
    """The key's fingerprint in the digest asked for: `md5` (the default) or `sha256`."""
    if digest in (None, "", "md5"):
        return row.fingerprint
    if digest == "sha256":
        return row.sha256_fingerprint
    raise ApiError(400, f"digest must be md5 or sha256, not {digest!r}")


def checkout_key_json(row: CheckoutKey, preferred: bool, digest: str | None) -> dict[str, Any]:
    return {
        "public-key": row.public_key,
        "type": row.type,
        "fingerprint": fingerprint_in(row, digest),
        "preferred": preferred,
        "created-at": iso(row.created_at),
    }


def add_checkout_key_routes(
    router: APIRouter,
    as_json: Callable[[CheckoutKey, bool, str | None], dict[str, Any]],
    as_list: Callable[[list[dict[str, Any]]], Any],
    list_model: Any,
    deleted: str,
    created_status: int | None = None,
    created_description: str | None = None,
) -> None:
    """The four checkout-key routes; v2 and v1.1 differ in the shapes they answer with (and the status of a
    creation), not in what they do. `list_model` is the listing's response model, as OpenAPI shows it."""

    @router.get(PATH, response_model=list_model)
    async def list_checkout_keys(
        vcs: str,
        org: str,
        repo: str,
        digest: str | None = None,
        user: User = Depends(current_user),
        svc: Services = Depends(services),
    ) -> Any:
        project = await project_of(svc, user, vcs, org, repo)
        with api_errors():
            keys = await svc.ssh_keys.checkout_keys(project.id)
        return as_list([as_json(k, i == 0, digest) for i, k in enumerate(keys)])

    @router.post(PATH, status_code=created_status, description=created_description)
    async def create_checkout_key(
        vcs: str,
        org: str,
        repo: str,
        # Both APIs take this one model. Named at module level, the annotation resolves for FastAPI under
        # `from __future__ import annotations`; a model passed in as an argument would not.
        body: CheckoutKeyRequest,
        origin: Origin = Depends(user_origin),
        user: User = Depends(current_user),
        svc: Services = Depends(services),
    ) -> dict[str, Any]:
        project = await project_of(svc, user, vcs, org, repo)
        with api_errors():
            row = await svc.ssh_keys.create_checkout_key(project.id, body.type, origin)
        return as_json(row, True, None)

    @router.get(PATH + "/{fingerprint:path}")
    async def get_checkout_key(
        vcs: str,
        org: str,
        repo: str,
        fingerprint: str,
        digest: str | None = None,
        user: User = Depends(current_user),
        svc: Services = Depends(services),
    ) -> dict[str, Any]:
        project = await project_of(svc, user, vcs, org, repo)
        with api_errors():
            row, preferred = await svc.ssh_keys.checkout_key(project.id, fingerprint)
        return as_json(row, preferred, digest)

    @router.delete(PATH + "/{fingerprint:path}")
    async def delete_checkout_key(
        vcs: str,
        org: str,
        repo: str,
        fingerprint: str,
        origin: Origin = Depends(user_origin),
        user: User = Depends(current_user),
        svc: Services = Depends(services),
    ) -> dict[str, str]:
        project = await project_of(svc, user, vcs, org, repo)
        with api_errors():
            await svc.ssh_keys.delete_checkout_key(project.id, fingerprint, origin)
        return {"message": deleted}


add_checkout_key_routes(
    router,
    checkout_key_json,
    lambda items: {"items": items, "next_page_token": None},
    dict[str, Any],
    "Checkout key deleted.",
    created_status=201,
    created_description="Make a deploy key (the new preferred key): add its public key to the repository.",
)
