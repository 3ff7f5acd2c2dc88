"""v1.1 builds: details with steps and their output, artifacts, test results, and the step output downloads.

`output_url` works without a token, like CircleCI's presigned links: it is signed and expires. Project
API tokens of the `view-builds` and `all` scopes read all of this for their project.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from rondo.domain.project_tokens import VIEW_BUILDS
from rondo.domain.slugs import ProjectSlug
from rondo.secrets.url_signing import BadSignature, sign_path, verify_path
from rondo.server import lookups
from rondo.server.api_v1.build_json import FILTERS
from rondo.server.api_v1.build_json import build_details as build_details_json
from rondo.server.api_v1.build_rows import build_by_number
from rondo.server.api_v2.artifacts import artifact_items, test_item
from rondo.server.auth import Caller, api_caller, build_viewer, current_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store import tasks as task_q
from rondo.store.models import Artifact, Project, User

router = APIRouter(tags=["v1.1"])

OUTPUT_LINK_TTL_S = 3600
BuildNumber = Annotated[int, Path(ge=0, le=lookups.MAX_NUMBER)]
StepIndex = Annotated[int, Path(ge=0, le=lookups.MAX_NUMBER)]


def _output_path(project: Project, number: int, step: int, index: int) -> str:
    return f"/api/v1.1/project/{ProjectSlug.parse(project.slug).long}/{number}/output/{step}/{index}"


@router.get("/api/v1.1/project/{vcs}/{org}/{repo}/latest/artifacts")
async def latest_build_artifacts(
    vcs: str,
    org: str,
    repo: str,
    branch: str | None = None,
    filter: str | None = None,
    caller: Caller = Depends(build_viewer),
    svc: Services = Depends(services),
) -> list[dict[str, Any]]:
    """Artifacts of the newest build (of `branch`, passing `filter`)."""
    async with svc.db.session() as session:
        project = await lookups.project(session, caller.viewer, vcs, org, repo)
        rows = []
        if branch is None or "\x00" not in branch:  # git allows no NUL in a branch name (nor PostgreSQL)
            rows = await pipeline_q.numbered_jobs(
                session, project_id=project.id, branch=branch, statuses=FILTERS.get(filter or ""), limit=1
            )
    if not rows:
        raise ApiError(404, "Build not found")
    return _v1_artifacts(svc, await svc.storage.artifacts_of(rows[0][0].id))


def _v1_artifacts(svc: Services, artifacts: list[Artifact]) -> list[dict[str, Any]]:
    return [{**item, "pretty_path": item["path"]} for item in artifact_items(svc, artifacts)]


@router.get("/api/v1.1/project/{vcs}/{org}/{repo}/{number}")
async def build_details(
    vcs: str,
    org: str,
    repo: str,
    number: BuildNumber,
    caller: Caller = Depends(build_viewer),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    async with svc.db.session() as session:
        project = await lookups.project(session, caller.viewer, vcs, org, repo)
        build = await build_by_number(session, project, number)
        tasks = await task_q.tasks_of_job(session, build.job.id)
        steps_by_task = [(t, await task_q.steps_of(session, t.id)) for t in tasks]
    public = svc.settings.resolved_public_url

    def output_url(step: int, index: int) -> str:
        # Signed, so it opens without a token like CircleCI's presigned links, and expires.
        return public + sign_path(svc.server_key, _output_path(project, number, step, index), OUTPUT_LINK_TTL_S)

    return build_details_json(build, steps_by_task, public, output_url)


@router.get("/api/v1.1/project/{vcs}/{org}/{repo}/{number}/artifacts")
async def build_artifacts(
    vcs: str,
    org: str,
    repo: str,
    number: BuildNumber,
    caller: Caller = Depends(build_viewer),
    svc: Services = Depends(services),
) -> list[dict[str, Any]]:
    """The build's artifacts: `[{path, pretty_path, node_index, url}]`."""
    async with svc.db.session() as session:
        build = await build_by_number(session, await lookups.project(session, caller.viewer, vcs, org, repo), number)
    return _v1_artifacts(svc, await svc.storage.artifacts_of(build.job.id))


@router.get("/api/v1.1/project/{vcs}/{org}/{repo}/{number}/tests")
async def build_tests(
    vcs: str,
    org: str,
    repo: str,
    number: BuildNumber,
    caller: Caller = Depends(build_viewer),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """The build's test results, as v1.1 wraps them: `{"tests": [...], "exceptions": []}`."""
    async with svc.db.session() as session:
        build = await build_by_number(session, await lookups.project(session, caller.viewer, vcs, org, repo), number)
    rows = await svc.storage.tests_of(build.job.id)
    return {"tests": [{"file": None, **test_item(r)} for r in rows], "exceptions": []}


async def _step_output(
    svc: Services, caller: Caller | None, vcs: str, org: str, repo: str, number: int, step: int, index: int
) -> Any:
    """The step's output messages; `caller` None: a signed link, which the server gave someone who could see it."""
    async with svc.db.session() as session:
        if caller is None:
            project = await project_q.project_by_slug(session, lookups.parse_slug(vcs, org, repo).short)
            if project is None:
                raise ApiError(404, "Project not found")
        else:
            project = await lookups.project(session, caller.viewer, vcs, org, repo)
            caller.check(project.id, VIEW_BUILDS)
        job = await pipeline_q.job_by_number(session, project.id, number)
        if job is None:
            raise ApiError(404, "Build not found")
        task = next((t for t in await task_q.tasks_of_job(session, job.id) if t.node_index == index), None)
        row = await task_q.step_of(session, task.id, step) if task else None
    if task is None or row is None:
        raise ApiError(404, "Step not found")
    return await svc.output.read(row, task)


@router.get("/api/v1.1/project/{vcs}/{org}/{repo}/{number}/output/{step}/{index}")
async def step_output(
    request: Request,
    vcs: str,
    org: str,
    repo: str,
    number: BuildNumber,
    step: StepIndex,
    index: StepIndex,
    expires: str | None = Query(None),
    signature: str | None = Query(None),
    svc: Services = Depends(services),
) -> JSONResponse:
    """The step's output as CircleCI's JSON array; a signed link or an API token opens it."""
    caller: Caller | None = None
    if signature is not None:
        try:
            verify_path(svc.server_key, request.url.path, expires, signature)
        except BadSignature as exc:
            raise ApiError(403, str(exc)) from None
    else:
        caller = await api_caller(request, svc)
    return JSONResponse(await _step_output(svc, caller, vcs, org, repo, number, step, index))


@router.get("/api/private/output/raw/{vcs}/{org}/{repo}/{number}/{stream}/{index}/{step}")
async def raw_step_output(
    vcs: str,
    org: str,
    repo: str,
    number: BuildNumber,
    stream: Literal["output", "error"],
    index: StepIndex,
    step: StepIndex,
    user: User = Depends(current_user),
    svc: Services = Depends(services),
) -> PlainTextResponse:
    """A step's output (`output`) or its error stream (`error`) as plain text, as CircleCI's MCP server reads it."""
    messages = await _step_output(svc, Caller(user=user), vcs, org, repo, number, step, index)
    wanted = "err" if stream == "error" else "out"
    return PlainTextResponse("".join(m["message"] for m in messages if m.get("type", "out") == wanted))
