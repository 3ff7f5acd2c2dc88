"""Stopping the HTTP server answers agents' waiting long polls instead of dropping them at the deadline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2

from tests.engine.harness import InProcessServer, wait_for


async def test_stopping_answers_waiting_claims_and_heartbeats(tmp_path: Path) -> None:
    # The heartbeat may wait as long as a claim here: both must be answered, not cut off, when the server stops.
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'rondo.db'}"
    server = await asyncio.to_thread(InProcessServer, tmp_path / "data", database_url, heartbeat_interval_s=30.0)
    await asyncio.to_thread(server.__enter__)
    try:
        headers = {"Authorization": f"Bearer {server.agent_token}"}
        async with httpx2.AsyncClient(base_url=server.url, headers=headers, timeout=60) as agent:
            registered = await agent.post("/agent/v1/register", json={"name": "waiting"})
            assert registered.status_code == 200, registered.text
            agent_id = registered.json()["agent_id"]
            waiting = {"agent_id": agent_id, "wait_s": 30}
            claim = asyncio.create_task(agent.post("/agent/v1/claim", json=waiting))
            heartbeat = asyncio.create_task(agent.post("/agent/v1/heartbeat", json=waiting))

            async def both_waiting() -> bool:
                return server.open_requests() == 2

            await wait_for(both_waiting, what="the claim and the heartbeat to be waiting in the server")
            await asyncio.to_thread(server.__exit__, None, None, None)
            # Before the fix uvicorn cancelled them after its graceful timeout and the agent saw the connection drop.
            assert (await claim).status_code == 204
            beat = await heartbeat
            assert beat.status_code == 200, beat.text
            assert beat.json()["cancel"] == []
    finally:
        server.__exit__(None, None, None)
