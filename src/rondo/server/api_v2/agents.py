"""/api/v2/agents (Rondo): the build agents, draining them, and agent tokens. Administrators only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from rondo.engine.agents import UnknownAgent
from rondo.ops.audit import Origin
from rondo.server.actions import admin_origin
from rondo.server.auth import admin_user
from rondo.server.errors import ApiError
from rondo.server.services import Services, services
from rondo.server.shapes import iso
from rondo.store.models import Agent, Task, User

router = APIRouter(prefix="/api/v2", tags=["Agent"])


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What the token is for, e.g. the machine's name")


def agent_json(agent: Agent, running: list[Task]) -> dict[str, Any]:
    return {
        "id": str(agent.id),
        "name": agent.name,
        "status": "down" if agent.state == "down" else "ready",
        "drain": agent.drain,
        "resource_classes": list(agent.resource_classes or []),
        "executors": list(agent.executors or []),
        "capacity": dict(agent.capacity or {}),
        "version": agent.version,
        "registered_at": iso(agent.registered_at),
        "last_seen_at": iso(agent.last_seen_at),
        "running": [
            {"task_id": str(t.id), "job_id": str(t.job_id), "node_index": t.node_index, "started_at": iso(t.started_at)}
            for t in running
        ],
    }


@router.get("/agents")
async def list_agents(_: User = Depends(admin_user), svc: Services = Depends(services)) -> dict[str, Any]:
    rows = await svc.agents.overview()
    return {"items": [agent_json(a, running) for a, running in rows], "next_page_token": None}


async def _drain(svc: Services, ident: str, drain: bool, origin: Origin) -> dict[str, Any]:
    try:
        agent = await svc.agents.set_drain(ident, drain, origin)
    except UnknownAgent as exc:
        raise ApiError(404, str(exc)) from None
    return {"message": f"Agent {agent.name} {'is draining' if drain else 'claims work again'}.", "id": str(agent.id)}


@router.post("/agents/{ident}/drain", status_code=202)
async def drain_agent(
    ident: str, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, Any]:
    return await _drain(svc, ident, True, origin)


@router.delete("/agents/{ident}/drain", status_code=202)
async def undrain_agent(
    ident: str, origin: Origin = Depends(admin_origin), svc: Services = Depends(services)
) -> dict[str, Any]:
    return await _drain(svc, ident, False, origin)


@router.post("/agent-tokens", status_code=201)
async def create_agent_token(
    body: TokenRequest, _: User = Depends(admin_user), svc: Services = Depends(services)
) -> dict[str, str]:
    token = await svc.accounts.create_agent_token(body.name)
    return {"name": body.name, "token": token}
