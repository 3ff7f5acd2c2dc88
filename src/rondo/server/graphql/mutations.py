"""Resolvers of `Mutation`: namespaces, orbs and their versions, list status, categories.

A refused change is no GraphQL error: its payload carries `errors { message type }` (and a null
result), which the CLI checks first and prints, e.g. "Namespace already exists".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rondo.engine.orb_errors import OrbMissing, OrbRegistryError
from rondo.server.graphql.context import GraphQLContext
from rondo.server.graphql.queries import check_size

Payload = dict[str, Any]


async def payload(result_key: str, action: Callable[[], Awaitable[Payload]]) -> Payload:
    """`action`'s fields and no errors, or `result_key` null and the registry's refusal as the error."""
    try:
        return {**await action(), "errors": []}
    except OrbRegistryError as exc:
        return {result_key: None, "errors": [{"message": exc.message, "type": exc.type}]}


async def create_namespace(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> Payload:
    async def act() -> Payload:
        org_id = args["organizationId"]
        return {"namespace": await ctx.svc.orb_catalog.create_namespace(args["name"], org_id, ctx.viewer, ctx.origin)}

    return await payload("namespace", act)


async def import_namespace(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> Payload:
    async def act() -> Payload:
        return {"namespace": await ctx.svc.orb_catalog.import_namespace(args["name"], ctx.viewer, ctx.origin)}

    return await payload("namespace", act)


async def create_orb(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> Payload:
    async def act() -> Payload:
        namespace_id, name, private = args["registryNamespaceId"], args["name"], bool(args.get("isPrivate"))
        return {"orb": await ctx.svc.orb_catalog.create_orb(namespace_id, name, private, ctx.viewer, ctx.origin)}

    return await payload("orb", act)


async def import_orb(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> Payload:
    async def act() -> Payload:
        namespace_id = args["registryNamespaceId"]
        return {"orb": await ctx.svc.orb_catalog.import_orb(namespace_id, args["name"], ctx.viewer, ctx.origin)}

    return await payload("orb", act)


async def _names(ctx: GraphQLContext, args: dict[str, Any]) -> tuple[str, str]:
    """The orb a publish or promote names: by `orbId`, or by `namespaceName` and `orbName`."""
    if args.get("orbId") is not None:
        entry = await ctx.svc.orb_catalog.orb_by_id(args["orbId"], ctx.viewer)
        if entry is None:
            raise OrbMissing("No orb has that id.")
        return entry.namespace.name, entry.name
    if not args.get("namespaceName") or not args.get("orbName"):
        raise OrbRegistryError("Name the orb with `orbId`, or with `namespaceName` and `orbName`.")
    return str(args["namespaceName"]), str(args["orbName"])


async def publish_orb(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> Payload:
    async def act() -> Payload:
        namespace, name = await _names(ctx, args)
        source = check_size(args["orbYaml"], "orbYaml")
        version = await ctx.svc.orbs.publish_version(namespace, name, args["version"], source, ctx.viewer, ctx.origin)
        return {"orb": version}

    return await payload("orb", act)


async def import_orb_version(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> Payload:
    async def act() -> Payload:
        source = check_size(args["orbYaml"], "orbYaml")
        version = await ctx.svc.orbs.import_version(args["orbId"], args["version"], source, ctx.viewer, ctx.origin)
        return {"orb": version}

    return await payload("orb", act)


async def promote_orb(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> Payload:
    async def act() -> Payload:
        namespace, name = await _names(ctx, args)
        version = await ctx.svc.orbs.promote(
            namespace, name, args["devVersion"], args["semanticVersion"], ctx.viewer, ctx.origin
        )
        return {"orb": version}

    return await payload("orb", act)


async def set_orb_list_status(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> Payload:
    async def act() -> Payload:
        return {"listed": await ctx.svc.orb_catalog.set_listed(args["orbId"], bool(args["list"]), ctx.viewer)}

    return await payload("listed", act)


def categorization(add: bool) -> Callable[[GraphQLContext, None, dict[str, Any]], Awaitable[Payload]]:
    async def resolve(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> Payload:
        async def act() -> Payload:
            await ctx.svc.orb_catalog.categorize(args["orbId"], args["categoryId"], add, ctx.viewer)
            return {"orbId": args["orbId"], "categoryId": args["categoryId"]}

        result = await payload("orbId", act)
        return {"categoryId": None, **result}

    return resolve
