"""/api/v2 pipeline definitions (read) and `POST /project/{slug}/pipeline/run`, which triggers by definition.

Every project has exactly one definition, as CircleCI gives a project followed through OAuth: its
`.circleci/config.yml`, read at the branch or tag a run names (the default branch unless one is named).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rondo.domain.pipeline_definitions import CONFIG_FILE_PATH, PROVIDERS, definition_id
from rondo.domain.slugs import ProjectSlug
from rondo.engine.pipelines import Trigger
from rondo.server import lookups
from rondo.server.api_v2.pipelines import check_parameter_limits, created_json
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import Project, User

router = APIRouter(prefix="/api/v2", tags=["Pipeline Definition"])

NOT_FOUND = "Pipeline definition not found"


def definition_json(project: Project) -> dict[str, Any]:
    slug = ProjectSlug.parse(project.slug)
    provider = PROVIDERS.get(slug.vcs, "github_oauth")
    repo = {"full_name": f"{slug.org}/{slug.repo}", "external_id": project.vcs_url}
    branch = project.default_branch or "the default branch"
    return {
        "id": str(definition_id(project.id)),
        "name": project.name,
        "description": f"{CONFIG_FILE_PATH} of {project.slug}; pipelines without a branch or tag use {branch}",
        "created_at": iso(project.created_at),
        "config_source": {"provider": provider, "repo": repo, "file_path": CONFIG_FILE_PATH},
        "checkout_source": {"provider": provider, "repo": repo},
    }


async def project_by_id(svc: Services, user: User, project_id: str) -> Project:
    async with svc.db.session() as session:
        return await lookups.project_by_id(session, user, lookups.parse_uuid(project_id, "Project"))


@router.get("/projects/{project_id}/pipeline-definitions")
@router.get("/project/{project_id}/pipeline-definitions", include_in_schema=False)  # the MCP server's path
async def list_pipeline_definitions(
    project_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    """The project's one definition (a list, as CircleCI's spec has it: `items` only, no pages)."""
    return {"items": [definition_json(await project_by_id(svc, user, project_id))]}


@router.get("/projects/{project_id}/pipeline-definitions/{pipeline_definition_id}")
async def get_pipeline_definition(
    project_id: str, pipeline_definition_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    project = await project_by_id(svc, user, project_id)
    if pipeline_definition_id != str(definition_id(project.id)):
        raise ApiError(404, NOT_FOUND)
    return definition_json(project)


class RefRequest(BaseModel):
    """A branch or a tag."""

    model_config = ConfigDict(extra="forbid")
    branch: str | None = Field(None, min_length=1, max_length=255)
    tag: str | None = Field(None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _one(self) -> RefRequest:
        if self.branch and self.tag:
            raise ValueError("give a branch or a tag, not both")
        return self

    @property
    def named(self) -> bool:
        return bool(self.branch or self.tag)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition_id: uuid.UUID
    config: RefRequest = Field(default_factory=RefRequest)
    checkout: RefRequest = Field(default_factory=RefRequest)
    parameters: dict[str, int | str | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _same_ref(self) -> RunRequest:
        check_parameter_limits(self.parameters)
        if self.config.named and self.checkout.named and self.config != self.checkout:
            raise ValueError(
                "config and checkout name different refs; Rondo checks out the commit it reads the config "
                "from, so give the same branch or tag in both (or only one of them)"
            )
        return self


@router.post("/project/{vcs}/{org}/{repo}/pipeline/run", status_code=201)
async def run_pipeline(
    vcs: str, org: str, repo: str, body: RunRequest, user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    """Trigger a pipeline of the definition, like `POST /project/{slug}/pipeline`."""
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
    if body.definition_id != definition_id(project.id):
        raise ApiError(404, NOT_FOUND)
    ref = body.config if body.config.named else body.checkout
    trigger = Trigger(type="api", actor=user.login, branch=ref.branch, tag=ref.tag, parameters=body.parameters)
    return created_json(await svc.pipelines.trigger(project.id, trigger))
