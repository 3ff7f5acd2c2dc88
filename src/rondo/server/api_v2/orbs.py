"""/api/v2/orbs: the private orb registry — list orbs, read a version's source, publish (admins).

Reads show public orbs and the private orbs of the caller's organizations. Publishing here is an
administrator's import: the namespace (owned by no organization) and the orb are made if missing.
The CircleCI CLI's orb commands use `/graphql-unstable` instead (`rondo.server.graphql`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from rondo.config.orbs import OrbNotFound, OrbRef
from rondo.engine.orb_access import OrbViewer
from rondo.engine.orbs import OrbRegistryError, OrbSummary, OrbVersionExists, PublishedOrbVersion
from rondo.ops.audit import Origin
from rondo.server.actions import admin_origin
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import User

router = APIRouter(prefix="/api/v2", tags=["Orb"])

MAX_SOURCE_CHARS = 4_000_000


class PublishRequest(BaseModel):
    version: str = Field(min_length=1, max_length=200, description="X.Y.Z or dev:label")
    source: str = Field(min_length=1, max_length=MAX_SOURCE_CHARS, description="The packed orb YAML")


def orb_json(orb: OrbSummary) -> dict[str, Any]:
    return {
        "name": orb.full_name,
        "versions": list(orb.versions),
        "latest": orb.latest,
        "private": orb.is_private,
        "listed": orb.listed,
    }


def orb_version_json(found: PublishedOrbVersion) -> dict[str, Any]:
    return {
        "name": found.ref.full_name,
        "version": found.ref.version,
        "source": found.source,
        "digest": found.digest,
        "created_at": iso(found.created_at),
    }


def parse_ref(namespace: str, name: str, version: str) -> OrbRef:
    try:
        return OrbRef.parse(f"{namespace}/{name}@{version}")
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None


async def orb_viewer(user: User = Depends(current_user), svc: Services = Depends(services)) -> OrbViewer:
    """FastAPI dependency: the caller's view of the registry (which private orbs they see)."""
    return await svc.memberships.orb_viewer(user)


@router.get("/orbs")
async def list_orbs(viewer: OrbViewer = Depends(orb_viewer), svc: Services = Depends(services)) -> dict[str, Any]:
    """Every orb the caller sees with its versions and newest release (one page: the registry is small)."""
    return {"items": [orb_json(orb) for orb in await svc.orbs.list_orbs(viewer)], "next_page_token": None}


@router.get("/orbs/{namespace}/{name}")
async def get_orb(
    namespace: str, name: str, viewer: OrbViewer = Depends(orb_viewer), svc: Services = Depends(services)
) -> dict[str, Any]:
    orb = await svc.orbs.orb(namespace, name, viewer)
    if orb is None:
        raise ApiError(404, f"Orb {namespace}/{name} does not exist or is private.")
    return orb_json(orb)


@router.get("/orbs/{namespace}/{name}/{version}")
async def get_orb_version(
    namespace: str, name: str, version: str, viewer: OrbViewer = Depends(orb_viewer), svc: Services = Depends(services)
) -> dict[str, Any]:
    """One version's source; `version` may be exact, a range (`5`, `5.1`), `volatile` or `dev:label`."""
    try:
        return orb_version_json(await svc.orbs.get(parse_ref(namespace, name, version), viewer))
    except OrbNotFound as exc:
        raise ApiError(404, str(exc)) from None


@router.post("/orbs/{namespace}/{name}", status_code=201)
async def publish_orb(
    namespace: str,
    name: str,
    body: PublishRequest,
    origin: Origin = Depends(admin_origin),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Publish a packed orb as an exact version (admins only); releases are immutable, dev versions not."""
    ref = parse_ref(namespace, name, body.version)
    try:
        return orb_version_json(await svc.orbs.publish(ref, body.source, origin))
    except OrbVersionExists as exc:
        raise ApiError(409, str(exc)) from None
    except OrbRegistryError as exc:
        raise ApiError(400, f"cannot publish {ref}: {exc}") from None
