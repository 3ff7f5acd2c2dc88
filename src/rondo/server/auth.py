"""Who is calling: API tokens in every form CircleCI clients send them, project API tokens, agent tokens.

A personal token acts as its user everywhere. A project API token works only on the v1.1 endpoints of
its own project that take one (they depend on `project_caller`), within its scope; everywhere else it
is refused as CircleCI refuses it on API v2.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request

from rondo.domain.project_tokens import ALL, STATUS, VIEW_BUILDS, enough
from rondo.engine.project_tokens import ProjectGrant
from rondo.ops.audit import Ref, user_ref
from rondo.server import lookups
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store.models import ApiToken, User

SESSION_TOKEN_KEY = "token"
PROJECT_TOKEN_HERE = (
    "Project API tokens work only on API v1.1 endpoints of their own project; use a personal API token here."
)


@dataclass(frozen=True)
class Caller:
    """Who a request acts as: a user (personal token) or a project API token."""

    user: User | None = None
    grant: ProjectGrant | None = None

    @property
    def login(self) -> str:
        """The actor name pipelines, workflows and jobs it starts or cancels are attributed to."""
        if self.user is not None:
            return self.user.login
        assert self.grant is not None
        return self.grant.actor

    @property
    def viewer(self) -> User | ProjectGrant:
        """Who the lookups find a project for (lookups.Viewer)."""
        if self.user is not None:
            return self.user
        assert self.grant is not None
        return self.grant

    def ref(self) -> Ref:
        """The audit log's actor."""
        if self.user is not None:
            return user_ref(self.user)
        assert self.grant is not None
        return self.grant.ref()

    def check(self, project_id: uuid.UUID, needed: str, not_found: str = "Project not found") -> None:
        """Refuse a project token for another project (404, as if it did not exist) or too small a scope (403)."""
        if self.grant is None:
            return
        if self.grant.project_id != project_id:
            raise ApiError(404, not_found)
        if not self.grant.allows(needed):
            raise ApiError(
                403,
                f"Permission denied: this project API token has the `{self.grant.scope}` scope; "
                f"this needs {enough(needed)}.",
            )


def viewer_of(caller: User | Caller) -> User | ProjectGrant:
    """Who the lookups find a project for, from what a route's dependency gave it."""
    return caller.viewer if isinstance(caller, Caller) else caller


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


async def api_caller(request: Request, svc: Services = Depends(services)) -> Caller:
    """Any API token: a user's or a project's. Routes that take this must `check` the caller themselves."""
    token = token_from_request(request)
    if token is None:
        raise ApiError(401, "You must log in first.")
    found = await svc.accounts.caller_for_token(token)
    if found is None:
        raise ApiError(401, "Invalid token provided.")
    if isinstance(found, ProjectGrant):
        return Caller(grant=found)
    return Caller(user=found)


async def current_user(request: Request, svc: Services = Depends(services)) -> User:
    """A user's personal token (project API tokens are refused: 401)."""
    caller = await api_caller(request, svc)
    if caller.user is None:
        raise ApiError(401, PROJECT_TOKEN_HERE)
    return caller.user


def project_caller(needed: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency for `/project/{vcs}/{org}/{repo}/...` routes: a user, or this project's token allowing `needed`."""

    async def dependency(request: Request, vcs: str, org: str, repo: str, svc: Services = Depends(services)) -> Caller:
        caller = await api_caller(request, svc)
        if caller.grant is not None:
            async with svc.db.session() as session:
                caller.check((await lookups.project(session, caller.grant, vcs, org, repo)).id, needed)
        return caller

    return dependency


# The dependencies of project routes, by what they need of a project API token.
status_reader = project_caller(STATUS)  # recent builds: their statuses
build_viewer = project_caller(VIEW_BUILDS)  # build details, output, artifacts, tests, masked variables
project_writer = project_caller(ALL)  # trigger, cancel, retry; change variables


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
