"""Resolvers of `Query`: orb listings and reads, namespaces, organizations, categories, orb and config checks.

What does not exist, or is private to others, is null and no error: the CLI tells "not found" from
an empty `id` (orb source, orb info, namespace checks of `admin import-orb`).
"""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLError

from rondo import config
from rondo.config.orbs import OrbRef
from rondo.domain.orb_categories import CATEGORIES, category_named
from rondo.engine.orb_catalog import NamespaceEntry, OrbEntry
from rondo.engine.orbs import PublishedOrbVersion
from rondo.server.graphql.context import GraphQLContext
from rondo.server.graphql.types import orb_connection, page_size

MAX_YAML_CHARS = 4_000_000
VCS_TYPES = {"gh": "GITHUB", "bb": "BITBUCKET", "circleci": "CIRCLECI"}


def check_size(text: str, what: str) -> str:
    if len(text) > MAX_YAML_CHARS:
        raise GraphQLError(f"`{what}` is longer than {MAX_YAML_CHARS} characters")
    return text


async def orbs(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> dict[str, Any]:
    return await orb_connection(ctx, args, listed_only=True)


async def orb(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> OrbEntry | None:
    namespace, slash, name = str(args["name"]).partition("/")
    if not slash:
        return None
    return await ctx.svc.orb_catalog.orb(namespace, name, ctx.viewer)


async def orb_version(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> PublishedOrbVersion | None:
    try:
        ref = OrbRef.parse(args["orbVersionRef"])
    except ValueError as exc:
        raise GraphQLError(str(exc)) from None
    return await ctx.svc.orbs.find(ref, ctx.viewer)


async def registry_namespace(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> NamespaceEntry | None:
    name = args.get("name")
    return await ctx.svc.orb_catalog.namespace(name) if name else None


async def organization(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> dict[str, Any] | None:
    """One of the caller's organizations, by id or by name and VCS type (`namespace create NAME VCS ORG`)."""
    ident, name, vcs_type = args.get("id"), args.get("name"), args.get("vcsType")
    if ident is None and not (name and vcs_type):
        raise GraphQLError("organization needs `id`, or `name` and `vcsType`")
    for org in await ctx.svc.memberships.organizations_of(ctx.user):
        kind = VCS_TYPES.get(org.vcs, "GITHUB")
        if (ident is not None and str(org.id) == str(ident).strip()) or (
            ident is None and org.name == name and kind == vcs_type
        ):
            return {"id": org.id, "name": org.name, "vcsType": kind}
    return None


def orb_categories(_: GraphQLContext, __: None, args: dict[str, Any]) -> dict[str, Any]:
    first = page_size(args.get("first"))
    after = args.get("after") or ""
    if after and not after.isdigit():
        raise GraphQLError(f"`after` {after!r} is not a cursor this server gave out")
    start = int(after) + 1 if after else 0
    page = list(enumerate(CATEGORIES))[start : start + first]
    return {
        "totalCount": len(CATEGORIES),
        "edges": [{"cursor": str(i), "node": c} for i, c in page],
        "pageInfo": {"hasNextPage": start + first < len(CATEGORIES)},
    }


def orb_category_by_name(_: GraphQLContext, __: None, args: dict[str, Any]) -> Any:
    return category_named(args["name"])


def config_response(valid: bool, errors: list[str], source: str, output: str) -> dict[str, Any]:
    return {"valid": valid, "errors": [{"message": e} for e in errors], "sourceYaml": source, "outputYaml": output}


async def orb_config(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> dict[str, Any]:
    """`circleci orb validate|process`; imported private orbs resolve for the organizations the caller works in."""
    checked = await ctx.svc.orbs.check(check_size(args["orbYaml"], "orbYaml"), ctx.viewer)
    return config_response(checked.valid, list(checked.errors), checked.source_yaml, checked.output_yaml)


async def build_config(ctx: GraphQLContext, _: None, args: dict[str, Any]) -> dict[str, Any]:
    """The CLI's legacy `config validate|process` (when `/api/v2/compile-config-with-defaults` is missing)."""
    text = check_size(args["configYaml"], "configYaml")
    values = config.local_pipeline_values()
    for pair in args.get("pipelineValues") or []:
        if str(pair["key"]).startswith("pipeline."):
            values[str(pair["key"])] = pair.get("val")
    parameters: Any = {}
    if args.get("pipelineParametersJson"):
        try:
            parameters = json.loads(args["pipelineParametersJson"])
        except ValueError as exc:
            raise GraphQLError(f"`pipelineParametersJson` is not JSON: {exc}") from None
        if not isinstance(parameters, dict):
            raise GraphQLError("`pipelineParametersJson` must be a JSON object of parameter names to values")
    try:
        compiled = await ctx.svc.pipelines.compile(text, values, parameters, ctx.viewer)
    except config.ConfigErrors as exc:
        return config_response(False, [str(e) for e in exc.errors], text, "")
    return config_response(True, [], text, compiled.processed_yaml)
