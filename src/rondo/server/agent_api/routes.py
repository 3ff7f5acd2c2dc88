"""/agent/v1: register, long-poll claim, heartbeat, task events."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response

from rondo.domain.agent_protocol import (
    ClaimRequest,
    EventBatch,
    EventBatchResult,
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterRequest,
    RegisterResponse,
    TaskSpec,
)
from rondo.engine.agents import NotYourTask, UnknownAgent
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
    return spec


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
