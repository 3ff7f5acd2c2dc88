"""The agent client retries a batch with the same seq until the server takes it."""

import asyncio
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from rondo.agent.client import AgentClient, AgentConflict
from rondo.domain.agent_protocol import ClaimRequest, EventBatch, StepOutput


class FlakyServer:
    """A test peer on loopback: answers 503 to the first events POST, then accepts."""

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.app = FastAPI()

        @self.app.post("/agent/v1/tasks/{task_id}/events")
        async def events(task_id: str, request: Request) -> JSONResponse:
            body = await request.json()
            self.seen.append(body["seq"])
            if len(self.seen) == 1:
                return JSONResponse({"message": "try again"}, status_code=503)
            return JSONResponse({"applied": True, "cancel": False})

        @self.app.post("/agent/v1/claim")
        async def claim() -> JSONResponse:
            return JSONResponse({"message": "agent x is not registered"}, status_code=409)


@pytest.fixture
def flaky() -> Iterator[tuple[FlakyServer, str]]:
    peer = FlakyServer()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(peer.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    yield peer, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


async def test_a_failed_batch_is_sent_again_with_the_same_seq(flaky: tuple[FlakyServer, str]) -> None:
    peer, url = flaky
    client = AgentClient(url, "token")
    batch = EventBatch(agent_id="a", seq=1, events=[StepOutput(step=0, data="x", at=datetime.now(UTC))])
    result = await asyncio.wait_for(client.send_events("t", batch), 10)
    await client.close()
    assert result.applied
    assert peer.seen == [1, 1]


async def test_409_asks_the_agent_to_register_again(flaky: tuple[FlakyServer, str]) -> None:
    _, url = flaky
    client = AgentClient(url, "token")
    with pytest.raises(AgentConflict, match="not registered"):
        await client.claim(ClaimRequest(agent_id="x", wait_s=0))
    await client.close()
