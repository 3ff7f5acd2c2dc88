"""Who is calling: API tokens in every form CircleCI clients send them, and agent tokens."""

from __future__ import annotations

import base64
import binascii

from fastapi import Depends, Request

from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store.models import ApiToken, User

SESSION_TOKEN_KEY = "token"


def token_from_request(request: Request) -> str | None:
    """Circle-Token header, then Authorization (Basic user / Bearer / raw), then ?circle-token=."""
    header = request.headers.get("circle-token")
    if header:
        return header.strip()
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "basic" and value:
            try:
                user = base64.b64decode(value, validate=True).decode().split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                return None
            return user or None
        if scheme.lower() == "bearer" and value:
            return value.strip()
        return auth.strip()
    query = request.query_params.get("circle-token")
    if query:
        return query
    if "session" in request.scope:
        token = request.session.get(SESSION_TOKEN_KEY)
        if isinstance(token, str):
            return token
    return None


async def current_user(request: Request, svc: Services = Depends(services)) -> User:
    token = token_from_request(request)
    if token is None:
        raise ApiError(401, "You must log in first.")
    user = await svc.accounts.user_for_token(token)
    if user is None:
        raise ApiError(401, "Invalid token provided.")
    return user


async def admin_user(user: User = Depends(current_user)) -> User:
    """A signed-in user who is an administrator; anyone else gets 403."""
    if not user.is_admin:
        raise ApiError(403, "Only administrators can do this.")
    return user


async def agent_token(request: Request, svc: Services = Depends(services)) -> ApiToken:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise ApiError(401, "Agents authenticate with 'Authorization: Bearer <agent token>'.")
    token = await svc.accounts.agent_token(value.strip())
    if token is None:
        raise ApiError(401, "Invalid agent token.")
    return token
