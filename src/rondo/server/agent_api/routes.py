"""/agent/v1: register, long-poll claim, heartbeat, task events, and presigned storage URLs for tasks."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from fastapi import APIRouter, Depends, Response

from rondo.domain.agent_protocol import (
    CaseResultsBatch,
    ClaimRequest,
    CommitRequest,
    CommitResult,
    DownloadGrant,
    DownloadRequest,
    EventBatch,
    EventBatchResult,
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterRequest,
    RegisterResponse,
    TaskSpec,
    UploadGrant,
    UploadRequest,
)
from rondo.engine.agents import NotYourTask, UnknownAgent
from rondo.engine.storage_errors import StorageRefused
from rondo.server.auth import agent_token
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.store.models import ApiToken

router = APIRouter(prefix="/agent/v1", tags=["agent"], dependencies=[Depends(agent_token)])


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, f"{what} {value!r} is not a UUID") from None


@router.post("/register", response_model=RegisterResponse)
async def register(
    req: RegisterRequest, token: ApiToken = Depends(agent_token), svc: Services = Depends(services)
) -> RegisterResponse:
    agent = await svc.agents.register(token.id, req)
    return RegisterResponse(agent_id=str(agent.id), heartbeat_interval_s=svc.agents.heartbeat_interval_s)


@router.post("/claim", response_model=TaskSpec, responses={204: {"description": "no task arrived in time"}})
async def claim(req: ClaimRequest, svc: Services = Depends(services)) -> TaskSpec | Response:
    wait = min(req.wait_s, svc.settings.claim_wait_s)
    try:
        spec = await svc.agents.claim(_uuid(req.agent_id, "agent_id"), req.free_slots, wait)
    except UnknownAgent as exc:
        raise ApiError(409, str(exc)) from None
    if spec is None:
        return Response(status_code=204)
    # Already a validated TaskSpec: dumped once here rather than dumped, validated and dumped again.
    return Response(spec.model_dump_json(), media_type="application/json")


@router.post("/heartbeat", response_model=HeartbeatResponse)
async def heartbeat(req: HeartbeatRequest, svc: Services = Depends(services)) -> HeartbeatResponse:
    _uuid(req.agent_id, "agent_id")
    try:
        return await svc.agents.heartbeat(req)
    except UnknownAgent as exc:
        raise ApiError(409, str(exc)) from None


@router.post("/tasks/{task_id}/events", response_model=EventBatchResult)
async def events(task_id: str, batch: EventBatch, svc: Services = Depends(services)) -> EventBatchResult:
    _uuid(batch.agent_id, "agent_id")
    try:
        return await svc.agents.apply_events(_uuid(task_id, "task id"), batch)
    except NotYourTask as exc:
        raise ApiError(409, str(exc)) from None


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except NotYourTask as exc:
        raise ApiError(409, str(exc)) from None
    except StorageRefused as exc:
        raise ApiError(exc.status_code, exc.message) from None


@router.post("/tasks/{task_id}/uploads", response_model=UploadGrant)
async def uploads(task_id: str, req: UploadRequest, svc: Services = Depends(services)) -> UploadGrant:
    """Presigned PUT URLs for a cache archive, a workspace layer or a batch of artifacts."""
    with _storage_errors():
        return await svc.storage.grant(_uuid(task_id, "task id"), req)


@router.post("/tasks/{task_id}/uploads/commit", response_model=CommitResult)
async def commit_uploads(task_id: str, req: CommitRequest, svc: Services = Depends(services)) -> CommitResult:
    """The uploads arrived (they count from now on), or failed (they are forgotten)."""
    with _storage_errors():
        return await svc.storage.commit(_uuid(task_id, "task id"), req)


@router.post("/tasks/{task_id}/downloads", response_model=DownloadGrant)
async def downloads(task_id: str, req: DownloadRequest, svc: Services = Depends(services)) -> DownloadGrant:
    """Presigned GET URLs: the cache a restore finds, or the workspace layers a job attaches."""
    with _storage_errors():
        return await svc.storage.downloads(_uuid(task_id, "task id"), req)


@router.post("/tasks/{task_id}/test-results", response_model=CommitResult)
async def test_results(task_id: str, batch: CaseResultsBatch, svc: Services = Depends(services)) -> CommitResult:
    with _storage_errors():
        return await svc.storage.add_tests(_uuid(task_id, "task id"), batch)
