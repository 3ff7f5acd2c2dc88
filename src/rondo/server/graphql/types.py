"""Resolvers of the object types' fields (Orb, OrbVersion, RegistryNamespace) and orb connections.

Parents are the engine's entries (`OrbEntry`, `NamespaceEntry`, `PublishedOrbVersion`); a field
whose name and value match an attribute needs no resolver.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from graphql import GraphQLError

from rondo.engine.orb_catalog import NamespaceEntry, OrbEntry
from rondo.engine.orbs import PublishedOrbVersion
from rondo.server.graphql.context import GraphQLContext
from rondo.server.shapes import iso

MAX_PAGE = 100
MAX_VERSIONS = 200
ZERO_STATISTICS = {"last30DaysBuildCount": 0, "last30DaysProjectCount": 0, "last30DaysOrganizationCount": 0}


def page_size(first: int | None) -> int:
    if first is None:
        return 20
    if first < 0 or first > MAX_PAGE:
        raise GraphQLError(f"`first` must be between 0 and {MAX_PAGE}, not {first}")
    return first


def encode_cursor(namespace: str, name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([namespace, name]).encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    """The (namespace, orb) a page starts after; the empty string (the CLI's first cursor) starts at the top."""
    if not cursor:
        return None
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(namespace), str(name)
    except (ValueError, TypeError, binascii.Error):
        raise GraphQLError(f"`after` {cursor!r} is not a cursor this server gave out") from None


async def orb_connection(
    ctx: GraphQLContext,
    args: dict[str, Any],
    *,
    namespace_id: uuid.UUID | None = None,
    view: str | None = None,
    listed_only: bool = False,
) -> dict[str, Any]:
    page = await ctx.svc.orb_catalog.page(
        ctx.viewer,
        first=page_size(args.get("first")),
        after=decode_cursor(args.get("after")),
        namespace_id=namespace_id,
        view=view,
        listed_only=listed_only,
    )
    return {
        "totalCount": page.total,
        "edges": [{"cursor": encode_cursor(e.namespace.name, e.name), "node": e} for e in page.entries],
        "pageInfo": {"hasNextPage": page.has_next},
    }


# ---- Orb ------------------------------------------------------------------------------------------


def orb_name(_: GraphQLContext, orb: OrbEntry, __: dict[str, Any]) -> str:
    return orb.full_name


def orb_created_at(_: GraphQLContext, orb: OrbEntry, __: dict[str, Any]) -> str:
    return iso(orb.created_at) or ""


def orb_is_private(_: GraphQLContext, orb: OrbEntry, __: dict[str, Any]) -> bool:
    return orb.is_private


def orb_statistics(_: GraphQLContext, __: OrbEntry, ___: dict[str, Any]) -> dict[str, int]:
    return ZERO_STATISTICS


async def orb_categories(ctx: GraphQLContext, orb: OrbEntry, _: dict[str, Any]) -> list[Any]:
    return list(await ctx.svc.orb_catalog.categories(orb.id))


async def orb_versions(ctx: GraphQLContext, orb: OrbEntry, args: dict[str, Any]) -> list[PublishedOrbVersion]:
    count = args.get("count")
    if count is not None and not 0 <= count <= MAX_VERSIONS:
        raise GraphQLError(f"`count` must be between 0 and {MAX_VERSIONS}, not {count}")
    return await ctx.svc.orbs.releases(orb.id, count)


# ---- OrbVersion -----------------------------------------------------------------------------------


def version_name(_: GraphQLContext, version: PublishedOrbVersion, __: dict[str, Any]) -> str:
    return version.ref.version


def version_created_at(_: GraphQLContext, version: PublishedOrbVersion, __: dict[str, Any]) -> str:
    return iso(version.created_at) or ""


async def version_orb(ctx: GraphQLContext, version: PublishedOrbVersion, _: dict[str, Any]) -> OrbEntry:
    entry = await ctx.svc.orb_catalog.orb_by_id(version.orb_id, ctx.viewer)
    if entry is None:  # deleted or made private in between: nothing a caller could act on
        raise GraphQLError(f"Orb {version.ref.full_name} does not exist or is private.")
    return entry


# ---- RegistryNamespace ----------------------------------------------------------------------------


def namespace_created_at(_: GraphQLContext, namespace: NamespaceEntry, __: dict[str, Any]) -> str:
    return iso(namespace.created_at) or ""


async def namespace_orbs(ctx: GraphQLContext, namespace: NamespaceEntry, args: dict[str, Any]) -> dict[str, Any]:
    return await orb_connection(ctx, args, namespace_id=namespace.id, view=args.get("view"))
