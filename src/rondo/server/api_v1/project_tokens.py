"""v1.1 /project/:vcs/:org/:repo/token: a project's API tokens, made and revoked with a personal token.

`POST {"scope": "status"|"view-builds"|"all", "label": "..."}` answers 201 with the token's value in
`token`, the only time it is shown; the list shows `token: null`. `DELETE .../token/:token` takes the
token's id (or its value) and revokes it at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from rondo.ops.audit import Origin
from rondo.server import lookups
from rondo.server.actions import api_errors, user_origin
from rondo.server.auth import current_user
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import ApiToken, Project, User

router = APIRouter(prefix="/api/v1.1", tags=["v1.1"])


class TokenRequest(BaseModel):
    scope: str = Field(description="status, view-builds or all", max_length=40)
    label: str = Field(description="what the token is for", max_length=1000)


def token_json(token: ApiToken, value: str | None = None) -> dict[str, Any]:
    return {"id": str(token.id), "label": token.label, "scope": token.scope, "time": iso(token.created_at),
            "token": value}  # fmt: skip


async def _project(svc: Services, user: User, vcs: str, org: str, repo: str) -> Project:
    async with svc.db.session() as session:
        return await lookups.project(session, user, vcs, org, repo)


@router.get("/project/{vcs}/{org}/{repo}/token")
async def list_tokens(
    vcs: str, org: str, repo: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> list[dict[str, Any]]:
    project = await _project(svc, user, vcs, org, repo)
    with api_errors():
        return [token_json(t) for t in await svc.project_tokens.list_all(project.id)]


@router.post("/project/{vcs}/{org}/{repo}/token", status_code=201)
async def create_token(
    vcs: str, org: str, repo: str, body: TokenRequest, user: User = Depends(current_user),
    origin: Origin = Depends(user_origin), svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    project = await _project(svc, user, vcs, org, repo)
    with api_errors():
        token, value = await svc.project_tokens.create(project.id, body.scope, body.label, origin, user.id)
    return token_json(token, value)


@router.delete("/project/{vcs}/{org}/{repo}/token/{token}")
async def delete_token(
    vcs: str, org: str, repo: str, token: str, origin: Origin = Depends(user_origin),
    user: User = Depends(current_user), svc: Services = Depends(services),
) -> dict[str, str]:  # fmt: skip
    project = await _project(svc, user, vcs, org, repo)
    with api_errors():
        await svc.project_tokens.revoke(project.id, token, origin)
    return {"message": "ok"}
