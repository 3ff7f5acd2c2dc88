"""/api/v2 pipelines: trigger, list, get by id or number, their workflows."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rondo.engine.pipelines import ContinuationError, Trigger
from rondo.server import lookups
from rondo.server.auth import current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso, pipeline_json, workflow_json
from rondo.store import pipelines as pipeline_q
from rondo.store.models import Pipeline, User

router = APIRouter(prefix="/api/v2", tags=["Pipeline"])

PAGE_SIZE = 20


def check_parameter_limits(parameters: dict[str, int | str | bool]) -> None:
    """CircleCI's limits on pipeline parameters: 100 entries, names of 128 and values of 512 characters."""
    if len(parameters) > 100:
        raise ValueError("at most 100 pipeline parameters")
    for key, value in parameters.items():
        if len(key) > 128:
            raise ValueError(f"parameter name '{key[:40]}…' is longer than 128 characters")
        if isinstance(value, str) and len(value) > 512:
            raise ValueError(f"the value of parameter '{key}' is longer than 512 characters")


class TriggerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    branch: str | None = Field(None, max_length=255)
    tag: str | None = Field(None, max_length=255)
    parameters: dict[str, int | str | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _branch_or_tag(self) -> TriggerRequest:
        if self.branch and self.tag:
            raise ValueError("give a branch or a tag, not both")
        check_parameter_limits(self.parameters)
        return self


class ContinueRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    continuation_key: str = Field(alias="continuation-key", min_length=1, max_length=200)
    configuration: str = Field(min_length=1, max_length=3 * 1024 * 1024)
    parameters: dict[str, int | str | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _limits(self) -> ContinueRequest:
        check_parameter_limits(self.parameters)
        return self


@router.post("/pipeline/continue")
async def continue_pipeline(body: ContinueRequest, svc: Services = Depends(services)) -> dict[str, str]:
    """Continue a setup pipeline with a config (dynamic config); the continuation key is the credential."""
    try:
        await svc.pipelines.continue_pipeline(body.continuation_key, body.configuration, dict(body.parameters))
    except ContinuationError as exc:
        raise ApiError(exc.status, exc.message) from None
    return {"message": "Pipeline continued."}


@router.post("/project/{vcs}/{org}/{repo}/pipeline", status_code=201)
async def trigger_pipeline(
    vcs: str,
    org: str,
    repo: str,
    body: TriggerRequest | None = None,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    body = body or TriggerRequest()
    async with svc.db.session() as session:
        project, organization = await lookups.project_and_organization(session, user, vcs, org, repo)
    pipeline = await svc.pipelines.trigger(
        project.id,
        Trigger(type="api", actor=user.login, branch=body.branch, tag=body.tag, parameters=body.parameters),
        project,
        organization,
    )
    return created_json(pipeline)


def created_json(pipeline: Pipeline) -> dict[str, Any]:
    """What triggering answers with (201): the new pipeline's id, state, number and creation time."""
    return {
        "id": str(pipeline.id),
        "state": pipeline.state,
        "number": pipeline.number,
        "created_at": iso(pipeline.created_at),
    }


@router.get("/project/{vcs}/{org}/{repo}/pipeline")
async def list_project_pipelines(
    vcs: str,
    org: str,
    repo: str,
    branch: str | None = None,
    page_token: str | None = Query(None, alias="page-token"),
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    before = lookups.decode_page_token(page_token)
    if before is not None and not before.isdigit():
        raise ApiError(400, "page-token is not a token this server issued")
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        rows = await pipeline_q.pipelines_page(
            session,
            project_id=project.id,
            branch=branch,
            before_number=int(before) if before else None,
            limit=PAGE_SIZE + 1,
        )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return {
        "items": [pipeline_json(p, project) for p in rows],
        "next_page_token": lookups.encode_page_token(str(rows[-1].number)) if more else None,
    }


@router.get("/project/{vcs}/{org}/{repo}/pipeline/{number}")
async def get_pipeline_by_number(
    vcs: str,
    org: str,
    repo: str,
    number: int,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    async with svc.db.session() as session:
        project = await lookups.project(session, user, vcs, org, repo)
        pipeline = await pipeline_q.pipeline_by_number(session, project.id, number)
        if pipeline is None:
            raise ApiError(404, "Pipeline not found")
        return pipeline_json(pipeline, project)


@router.get("/pipeline/{pipeline_id}")
async def get_pipeline(
    pipeline_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    async with svc.db.session() as session:
        pipeline, project = await lookups.pipeline(session, user, pipeline_id)
        return pipeline_json(pipeline, project)


@router.get("/pipeline/{pipeline_id}/workflow")
async def list_pipeline_workflows(
    pipeline_id: str, user: User = Depends(current_user), svc: Services = Depends(services)
) -> dict[str, Any]:
    async with svc.db.session() as session:
        pipeline, project = await lookups.pipeline(session, user, pipeline_id)
        workflows = await pipeline_q.workflows_of(session, pipeline.id)
        return {"items": [workflow_json(w, pipeline, project) for w in workflows], "next_page_token": None}
