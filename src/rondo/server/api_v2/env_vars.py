"""/api/v2/project/{slug}/envvar (values masked: `xxxx` + the last 4 characters) and /settings (advanced)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from rondo.ops.audit import Origin
from rondo.server import lookups
from rondo.server.actions import api_errors, user_origin
from rondo.server.auth import Caller, current_user, viewer_of
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import Project, ProjectEnvVar, User

router = APIRouter(prefix="/api/v2", tags=["Project"])


class EnvVarRequest(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    value: str


class AdvancedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    autocancel_builds: bool | None = None
    build_fork_prs: bool | None = None
    build_prs_only: bool | None = None
    disable_ssh: bool | None = None
    forks_receive_secret_env_vars: bool | None = None
    oss: bool | None = None
    set_github_status: bool | None = None
    setup_workflows: bool | None = None
    write_settings_requires_admin: bool | None = None
    pr_only_branch_overrides: list[str] | None = None


class SettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advanced: AdvancedSettings = Field(default_factory=AdvancedSettings)


def env_var_json(row: ProjectEnvVar) -> dict[str, Any]:
    return {"name": row.name, "value": row.masked_value, "created-at": iso(row.created_at)}


async def project_of(svc: Services, who: lookups.Viewer, vcs: str, org: str, repo: str) -> Project:
    async with svc.db.session() as session:
        return await lookups.project(session, who, vcs, org, repo)


def add_env_var_routes(
    router: APIRouter,
    as_json: Callable[[ProjectEnvVar], dict[str, Any]],
    as_list: Callable[[list[dict[str, Any]]], Any],
    deleted: str,
    reader: Callable[..., Awaitable[User | Caller]] = current_user,
    writer: Callable[..., Awaitable[Origin]] = user_origin,
    changer: Callable[..., Awaitable[User | Caller]] = current_user,
) -> None:
    """The four envvar routes; v2 and v1.1 differ in the shapes they answer with and who may call them.

    `reader` and `writer` are the dependencies that let a caller read (masked values) and change them;
    `changer` is the one `writer` builds on (FastAPI runs it once), naming who changes them.
    """
    path = "/project/{vcs}/{org}/{repo}/envvar"

    @router.get(path)
    async def list_env_vars(
        vcs: str, org: str, repo: str, caller: User | Caller = Depends(reader), svc: Services = Depends(services)
    ) -> Any:
        project = await project_of(svc, viewer_of(caller), vcs, org, repo)
        return as_list([as_json(r) for r in await svc.project_env.list_all(project.id)])

    @router.post(path, status_code=201)
    async def create_env_var(
        vcs: str,
        org: str,
        repo: str,
        body: EnvVarRequest,
        origin: Origin = Depends(writer),
        caller: User | Caller = Depends(changer),
        svc: Services = Depends(services),
    ) -> dict[str, Any]:
        project = await project_of(svc, viewer_of(caller), vcs, org, repo)
        with api_errors():
            return as_json(await svc.project_env.put(project.id, body.name, body.value, origin))

    @router.get(path + "/{name}")
    async def get_env_var(
        vcs: str,
        org: str,
        repo: str,
        name: str,
        caller: User | Caller = Depends(reader),
        svc: Services = Depends(services),
    ) -> dict[str, Any]:
        project = await project_of(svc, viewer_of(caller), vcs, org, repo)
        with api_errors():
            return as_json(await svc.project_env.get(project.id, name))

    @router.delete(path + "/{name}")
    async def delete_env_var(
        vcs: str,
        org: str,
        repo: str,
        name: str,
        origin: Origin = Depends(writer),
        caller: User | Caller = Depends(changer),
        svc: Services = Depends(services),
    ) -> dict[str, str]:
        project = await project_of(svc, viewer_of(caller), vcs, org, repo)
        with api_errors():
            await svc.project_env.delete(project.id, name, origin)
        return {"message": deleted}


add_env_var_routes(
    router, env_var_json, lambda items: {"items": items, "next_page_token": None}, "Environment variable deleted."
)


@router.get("/project/{vcs}/{org}/{repo}/settings")
async def get_settings(
    vcs: str, org: str, repo: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    project = await project_of(svc, user, vcs, org, repo)
    with api_errors():
        return {"advanced": await svc.project_env.settings(project.id)}


@router.patch("/project/{vcs}/{org}/{repo}/settings")
async def update_settings(
    vcs: str,
    org: str,
    repo: str,
    body: SettingsRequest,
    origin: Origin = Depends(user_origin),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Change advanced settings; only the keys given change (project.settings.update)."""
    project = await project_of(svc, user, vcs, org, repo)
    changes = body.advanced.model_dump(exclude_none=True)
    with api_errors():
        return {"advanced": await svc.project_env.update_settings(project.id, changes, origin)}
