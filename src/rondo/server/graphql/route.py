"""The HTTP edge of `/graphql-unstable`: always 200 with `{"data": ..., "errors": [...]}`, as the CLI expects.

The CLI reads any other status as "failure calling GraphQL API", so bad JSON, a missing token, a syntax
error or an unknown field are all answered 200 with their errors. It sends its token raw
(`Authorization: <token>`); every other form the REST API takes works too. A message containing
"must log in" makes the CLI ask the user to set up a token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from inspect import isawaitable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from graphql import GraphQLError, execute, parse, validate

from rondo.server.actions import origin_of
from rondo.server.auth import token_from_request
from rondo.server.graphql.context import GraphQLContext
from rondo.server.graphql.schema import RULES, schema
from rondo.server.services import Services, services

router = APIRouter()

MAX_BODY_BYTES = 12 * 1024 * 1024  # a 4 MB orb, JSON-escaped, with room to spare
MAX_TOKENS = 20_000  # the CLI's largest document has a few hundred
MAX_ERRORS = 20
NO_TOKEN = "You must log in first: send your API token as the Authorization header (circleci setup, or --token)."
BAD_TOKEN = "You must log in first: the API token sent is not valid, revoked, or its user is suspended."


def answer(data: Any, errors: Sequence[Mapping[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"data": data}
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body)


def failed(message: str) -> JSONResponse:
    return answer(None, [{"message": message}])


async def read_body(request: Request) -> bytes | None:
    """The body, or None when it is larger than MAX_BODY_BYTES."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def request_parts(raw: bytes) -> tuple[str, dict[str, Any], str | None]:
    """The query, variables and operation name of a GraphQL-over-HTTP JSON body; ValueError says what is wrong."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"The request body is not JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise ValueError('The request body must be a JSON object with a "query" string (and "variables").')
    variables = body.get("variables") or {}
    operation = body.get("operationName") or None
    if not isinstance(variables, dict):
        raise ValueError('"variables" must be a JSON object.')
    if operation is not None and not isinstance(operation, str):
        raise ValueError('"operationName" must be a string.')
    return body["query"], variables, operation


@router.post("/graphql-unstable", include_in_schema=False)
async def graphql_unstable(request: Request, svc: Services = Depends(services)) -> JSONResponse:
    raw = await read_body(request)
    if raw is None:
        return failed(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        query, variables, operation = request_parts(raw)
    except ValueError as exc:
        return failed(str(exc))
    token = token_from_request(request)
    if token is None:
        return failed(NO_TOKEN)
    user = await svc.accounts.user_for_token(token)
    if user is None:
        return failed(BAD_TOKEN)
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError as exc:
        return answer(None, [exc.formatted])
    problems = validate(schema(), document, RULES, max_errors=MAX_ERRORS)
    if problems:
        return answer(None, [e.formatted for e in problems])
    context = GraphQLContext(svc, user, await svc.memberships.orb_viewer(user), origin_of(user, request))
    result = execute(schema(), document, context_value=context, variable_values=variables, operation_name=operation)
    if isawaitable(result):
        result = await result
    errors = [e.formatted for e in result.errors] if result.errors else None
    return answer(result.data, errors)
