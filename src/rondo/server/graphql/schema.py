"""The executable schema: `schema.graphql` with its scalars and every field's resolver bound, and the
validation rules a document must pass.

Resolvers are plain functions `(context, parent, arguments)`; `_bind` wraps each one so that a refusal
from the registry becomes a GraphQL error with its message, and anything unexpected is logged and
answered "Internal server error" (never a traceback to a user).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import cache
from importlib import resources
from inspect import isawaitable
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    build_schema,
    specified_rules,
)
from graphql.utilities import value_from_ast_untyped
from graphql.validation import ASTValidationRule, NoUnusedVariablesRule, ValidationContext

from rondo.engine.orb_errors import OrbRegistryError
from rondo.server.graphql import mutations, queries, types
from rondo.server.graphql.context import GraphQLContext

log = logging.getLogger(__name__)

Resolver = Callable[[GraphQLContext, Any, dict[str, Any]], Any]

RESOLVERS: dict[str, dict[str, Resolver]] = {
    "Query": {
        "orbs": queries.orbs,
        "orb": queries.orb,
        "orbVersion": queries.orb_version,
        "registryNamespace": queries.registry_namespace,
        "organization": queries.organization,
        "orbCategories": queries.orb_categories,
        "orbCategoryByName": queries.orb_category_by_name,
        "orbConfig": queries.orb_config,
        "buildConfig": queries.build_config,
    },
    "Mutation": {
        "createNamespace": mutations.create_namespace,
        "importNamespace": mutations.import_namespace,
        "createOrb": mutations.create_orb,
        "importOrb": mutations.import_orb,
        "publishOrb": mutations.publish_orb,
        "importOrbVersion": mutations.import_orb_version,
        "promoteOrb": mutations.promote_orb,
        "setOrbListStatus": mutations.set_orb_list_status,
        "addCategorizationToOrb": mutations.categorization(add=True),
        "removeCategorizationFromOrb": mutations.categorization(add=False),
    },
    "Orb": {
        "name": types.orb_name,
        "createdAt": types.orb_created_at,
        "isPrivate": types.orb_is_private,
        "statistics": types.orb_statistics,
        "categories": types.orb_categories,
        "versions": types.orb_versions,
    },
    "OrbVersion": {
        "version": types.version_name,
        "createdAt": types.version_created_at,
        "orb": types.version_orb,
    },
    "RegistryNamespace": {
        "createdAt": types.namespace_created_at,
        "orbs": types.namespace_orbs,
    },
}

MAX_DEPTH = 12
MAX_COST = 20_000  # fields a document may ask for, lists counted at their largest (CLI documents: < 1000)
LIST_SIZES = {"orbs": ("first", 100), "orbCategories": ("first", 100), "versions": ("count", 200)}


def _bind(resolver: Resolver) -> Callable[..., Any]:
    async def resolve(parent: Any, info: GraphQLResolveInfo[GraphQLContext], **args: Any) -> Any:
        try:
            result = resolver(info.context, parent, args)
            return await result if isawaitable(result) else result
        except GraphQLError:
            raise
        except OrbRegistryError as exc:
            raise GraphQLError(exc.message) from None
        except Exception:
            log.exception("GraphQL field %s.%s failed", info.parent_type.name, info.field_name)
            raise GraphQLError("Internal server error") from None

    return resolve


def _uuid_input(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise GraphQLError(f"a UUID must be a string, not {type(value).__name__}")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise GraphQLError(f"{value!r} is not a UUID") from None


def _uuid_literal(node: ValueNode, _variables: Any = None) -> uuid.UUID:
    if not isinstance(node, StringValueNode):
        raise GraphQLError("a UUID must be written as a string")
    return _uuid_input(node.value)


def _scalars(schema: GraphQLSchema) -> None:
    uuid_type = schema.type_map["UUID"]
    any_type = schema.type_map["Any"]
    assert isinstance(uuid_type, GraphQLScalarType) and isinstance(any_type, GraphQLScalarType)
    uuid_type.coerce_output_value = str
    uuid_type.coerce_input_value = _uuid_input
    uuid_type.coerce_input_literal = _uuid_literal
    any_type.coerce_output_value = lambda value: value
    any_type.coerce_input_value = lambda value: value
    any_type.coerce_input_literal = lambda node, _variables=None: value_from_ast_untyped(node)


@cache
def schema() -> GraphQLSchema:
    sdl = resources.files("rondo.server.graphql").joinpath("schema.graphql").read_text(encoding="utf-8")
    built = build_schema(sdl)
    _scalars(built)
    for type_name, fields in RESOLVERS.items():
        object_type = built.type_map[type_name]
        assert isinstance(object_type, GraphQLObjectType)
        for field_name, resolver in fields.items():
            object_type.fields[field_name].resolve = _bind(resolver)
    return built


class QueryCostRule(ASTValidationRule):
    """Refuse documents nested deeper than MAX_DEPTH or asking for more than MAX_COST fields.

    A list field counts its selection once per item it may return: its `first`/`count` when written
    as a number, else the largest the server allows (variables are unknown while validating).
    """

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.context: ValidationContext = context

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        depth, cost = self._measure(node.selection_set, 1, frozenset())
        if depth > MAX_DEPTH:
            self.report_error(GraphQLError(f"The query nests {depth} fields deep; at most {MAX_DEPTH} are allowed."))
        elif cost > MAX_COST:
            self.report_error(
                GraphQLError(
                    f"The query may return more than {MAX_COST} fields (each list counted at its `first` or "
                    "`count`); ask for fewer."
                )
            )

    def _measure(self, selections: SelectionSetNode | None, times: int, seen: frozenset[str]) -> tuple[int, int]:
        depth, cost = 0, 0
        for sel in selections.selections if selections else ():
            if isinstance(sel, FieldNode):
                each = times * _list_size(sel)
                below, below_cost = self._measure(sel.selection_set, each, seen)
                depth, cost = max(depth, 1 + below), cost + times + below_cost
            elif isinstance(sel, InlineFragmentNode):
                below, below_cost = self._measure(sel.selection_set, times, seen)
                depth, cost = max(depth, below), cost + below_cost
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                fragment = self.context.get_fragment(sel.name.value)
                if fragment is not None:
                    below, below_cost = self._measure(fragment.selection_set, times, seen | {sel.name.value})
                    depth, cost = max(depth, below), cost + below_cost
            if cost > MAX_COST * 10:
                break  # far past the limit: stop counting
        return depth, cost


def _list_size(field: FieldNode) -> int:
    sized = LIST_SIZES.get(field.name.value)
    if sized is None:
        return 1
    arg_name, largest = sized
    for arg in field.arguments or ():
        if arg.name.value == arg_name and isinstance(arg.value, IntValueNode):
            return max(1, min(int(arg.value.value), largest))
    return largest


# The CLI declares variables it does not use (`$orgSlug` in ValidateConfig, `$pipelineParametersJson`
# without parameters), which CircleCI's server accepts; so does this one.
RULES = [rule for rule in specified_rules if rule is not NoUnusedVariablesRule] + [QueryCostRule]
