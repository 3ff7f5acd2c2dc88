"""The agent's HTTP client for /agent/v1, with retries for the network and the server's bad moments."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx2
from pydantic import BaseModel

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

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0


class AgentError(Exception):
    """The server refused a request (a 4xx other than 409), with its message."""


class AgentConflict(AgentError):
    """409: the server does not know this agent (any more) or the task is not ours."""


class AgentClient:
    def __init__(self, server_url: str, token: str, *, timeout_s: float = 30.0) -> None:
        self._http = httpx2.AsyncClient(
            base_url=server_url.rstrip("/") + "/agent/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )
        self._give_up = False

    def give_up(self) -> None:
        """Stop retrying: the server is gone for good (the built-in agent's server exited)."""
        self._give_up = True

    async def close(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: BaseModel, *, timeout_s: float | None = None) -> httpx2.Response:
        """POST until the server answers with something other than a 5xx; back off between tries."""
        delay = 0.2
        payload = body.model_dump(mode="json")
        while True:
            try:
                kwargs: dict[str, Any] = {"json": payload}
                if timeout_s is not None:
                    kwargs["timeout"] = timeout_s
                response = await self._http.post(path, **kwargs)
            except httpx2.TransportError as exc:
                if self._give_up:
                    raise AgentError(f"{path}: the server is gone ({exc})") from exc
                log.warning("agent: %s failed (%s); retrying in %.1fs", path, exc, delay)
            else:
                if response.status_code < 500:
                    if response.status_code == 409:
                        raise AgentConflict(_message(response))
                    if response.status_code >= 400:
                        raise AgentError(f"{path}: {response.status_code} {_message(response)}")
                    return response
                if self._give_up:
                    raise AgentError(f"{path}: {response.status_code} and the server is going away")
                log.warning("agent: %s answered %d; retrying in %.1fs", path, response.status_code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)

    async def register(self, req: RegisterRequest) -> RegisterResponse:
        return RegisterResponse.model_validate((await self._post("/register", req)).json())

    async def claim(self, req: ClaimRequest) -> TaskSpec | None:
        response = await self._post("/claim", req, timeout_s=req.wait_s + 15)
        if response.status_code == 204:
            return None
        return TaskSpec.model_validate(response.json())

    async def heartbeat(self, req: HeartbeatRequest) -> HeartbeatResponse:
        response = await self._post("/heartbeat", req, timeout_s=req.wait_s + 15)
        return HeartbeatResponse.model_validate(response.json())

    async def send_events(self, task_id: str, batch: EventBatch) -> EventBatchResult:
        return EventBatchResult.model_validate((await self._post(f"/tasks/{task_id}/events", batch)).json())

    # object storage: presigned URLs for what a task saves and restores (rondo.agent.steps.storage)

    async def request_uploads(self, task_id: str, req: UploadRequest) -> UploadGrant:
        return UploadGrant.model_validate((await self._post(f"/tasks/{task_id}/uploads", req)).json())

    async def commit_uploads(self, task_id: str, req: CommitRequest) -> CommitResult:
        return CommitResult.model_validate((await self._post(f"/tasks/{task_id}/uploads/commit", req)).json())

    async def request_downloads(self, task_id: str, req: DownloadRequest) -> DownloadGrant:
        return DownloadGrant.model_validate((await self._post(f"/tasks/{task_id}/downloads", req)).json())

    async def send_test_results(self, task_id: str, batch: CaseResultsBatch) -> CommitResult:
        return CommitResult.model_validate((await self._post(f"/tasks/{task_id}/test-results", batch)).json())


def _message(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text
    return str(body.get("message", body)) if isinstance(body, dict) else str(body)
