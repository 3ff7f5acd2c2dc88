"""The engine's rules end to end over the agent protocol, with the fake executor standing in for jobs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from rondo.agent.executors.fake import FakeExecutor
from rondo.agent.loop import AgentConfig, AgentLoop
from tests.conftest import make_repo
from tests.engine.harness import InProcessServer, wait_for

FINAL = {"success", "failed", "error", "canceled", "not_run"}


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[InProcessServer]:
    with InProcessServer(tmp_path / "data", database_url, agent_lost_after_s=2.0, heartbeat_interval_s=0.5) as srv:
        yield srv


@contextlib.asynccontextmanager
async def fake_agent(server: InProcessServer, tmp_path: Path, tasks: int = 3) -> AsyncIterator[AgentLoop]:
    config = AgentConfig(server.url, server.agent_token, tmp_path / "agent", name="fake", tasks=tasks, claim_wait_s=5)
    agent = AgentLoop(config, executors={"machine": FakeExecutor()})
    runner = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        agent.request_drain()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(runner, 10)


async def follow(api: httpx2.AsyncClient, tmp_path: Path, config: str) -> dict[str, Any]:
    repo = make_repo(tmp_path / "repo", {".circleci/config.yml": config})
    resp = await api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["first_pipeline"])


async def finished_jobs(api: httpx2.AsyncClient, pipeline_id: str) -> tuple[str, dict[str, dict[str, Any]]]:
    async def check() -> tuple[str, dict[str, dict[str, Any]]] | None:
        wfs = (await api.get(f"/api/v2/pipeline/{pipeline_id}/workflow")).json()["items"]
        if not wfs or wfs[0]["status"] not in FINAL:
            return None
        jobs = (await api.get(f"/api/v2/workflow/{wfs[0]['id']}/job")).json()["items"]
        return wfs[0]["status"], {j["name"]: j for j in jobs}

    return await wait_for(check, what="the workflow to finish")  # type: ignore[no-any-return]


async def test_parallelism_runs_one_task_per_node(server: InProcessServer, tmp_path: Path) -> None:
    config = """\
version: 2.1
jobs:
  build:
    machine: true
    parallelism: 3
    steps:
      - run: {command: node, environment: {RONDO_FAKE_OUTPUT: parallel}}
workflows:
  main: {jobs: [build]}
"""
    async with server.api() as api, fake_agent(server, tmp_path):
        pipeline = await follow(api, tmp_path, config)
        status, jobs = await finished_jobs(api, pipeline["id"])
        assert status == "success"
        details = (await api.get(f"/api/v2/project/gh/acme/app/job/{jobs['build']['job_number']}")).json()
        assert details["parallelism"] == 3
        assert sorted(r["index"] for r in details["parallel_runs"]) == [0, 1, 2]
        assert {r["status"] for r in details["parallel_runs"]} == {"success"}
        build = (await api.get(f"/api/v1.1/project/github/acme/app/{jobs['build']['job_number']}")).json()
        assert sorted(a["index"] for a in build["steps"][0]["actions"]) == [0, 1, 2]


async def test_requires_with_failed_status_runs_after_a_failure(server: InProcessServer, tmp_path: Path) -> None:
    config = """\
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: {command: boom, environment: {RONDO_FAKE_EXIT_CODE: "1"}}
  notify:
    machine: true
    steps: [{run: notify}]
  deploy:
    machine: true
    steps: [{run: deploy}]
workflows:
  main:
    jobs:
      - build
      - notify:
          requires: [{build: [success, failed]}]
      - deploy:
          requires: [build]
"""
    async with server.api() as api, fake_agent(server, tmp_path):
        pipeline = await follow(api, tmp_path, config)
        status, jobs = await finished_jobs(api, pipeline["id"])
    assert status == "failed"
    assert {n: j["status"] for n, j in jobs.items()} == {"build": "failed", "notify": "success", "deploy": "not_run"}
    assert jobs["notify"]["requires"] == {jobs["build"]["id"]: ["success", "failed"]}


async def test_a_silent_agent_loses_its_task_to_infrastructure_fail(server: InProcessServer, tmp_path: Path) -> None:
    config = """\
version: 2.1
jobs:
  build:
    machine: true
    steps: [{run: {command: hang, environment: {RONDO_FAKE_SLEEP: "60"}}}]
workflows:
  main: {jobs: [build]}
"""
    async with server.api() as api:
        config_agent = AgentConfig(server.url, server.agent_token, tmp_path / "a", name="doomed", claim_wait_s=5)
        agent = AgentLoop(config_agent, executors={"machine": FakeExecutor()})
        runner = asyncio.create_task(agent.run())
        pipeline = await follow(api, tmp_path, config)

        async def step_running() -> bool:
            wfs = (await api.get(f"/api/v2/pipeline/{pipeline['id']}/workflow")).json()["items"]
            jobs = (await api.get(f"/api/v2/workflow/{wfs[0]['id']}/job")).json()["items"] if wfs else []
            if not jobs or jobs[0]["status"] != "running":
                return False
            build = (await api.get(f"/api/v1.1/project/github/acme/app/{jobs[0]['job_number']}")).json()
            return bool(build["steps"])

        await wait_for(step_running, what="the job's first step to start")
        runner.cancel()  # the agent dies without a word: no events, no heartbeats
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        status, jobs = await finished_jobs(api, pipeline["id"])
    assert status == "failed"
    assert jobs["build"]["status"] == "infrastructure_fail"


async def test_unknown_agent_and_bad_agent_token_are_refused(server: InProcessServer) -> None:
    async with httpx2.AsyncClient(base_url=server.url + "/agent/v1") as http:
        bad = await http.post("/register", json={"name": "x"}, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        user_token = await http.post(
            "/register", json={"name": "x"}, headers={"Authorization": f"Bearer {server.admin_token}"}
        )
        assert user_token.status_code == 401  # a user's API token is not an agent token
        headers = {"Authorization": f"Bearer {server.agent_token}"}
        unknown = await http.post(
            "/claim", json={"agent_id": "00000000-0000-0000-0000-000000000000", "wait_s": 0}, headers=headers
        )
        assert unknown.status_code == 409 and "not registered" in unknown.json()["message"]
        invalid = await http.post("/register", json={"name": ""}, headers=headers)
        assert invalid.status_code == 400 and "name" in invalid.json()["message"]


class _HangingExecutor:
    """An executor whose environment never comes up: the agent dies before any step runs."""

    name = "machine"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @contextlib.asynccontextmanager
    async def prepare(self, spec: Any) -> AsyncIterator[Any]:
        await asyncio.sleep(3600)
        yield None


async def test_a_task_lost_before_it_ran_anything_is_retried_on_another_agent(
    server: InProcessServer, tmp_path: Path
) -> None:
    config = "version: 2.1\njobs:\n  build:\n    machine: true\n    steps: [{run: build}]\n"
    async with server.api() as api:
        doomed = AgentLoop(
            AgentConfig(server.url, server.agent_token, tmp_path / "a", name="doomed", claim_wait_s=5),
            executors={"machine": _HangingExecutor()},  # type: ignore[dict-item]
        )
        runner = asyncio.create_task(doomed.run())
        pipeline = await follow(api, tmp_path, config)

        async def claimed() -> bool:
            wfs = (await api.get(f"/api/v2/pipeline/{pipeline['id']}/workflow")).json()["items"]
            jobs = (await api.get(f"/api/v2/workflow/{wfs[0]['id']}/job")).json()["items"] if wfs else []
            return bool(jobs) and jobs[0]["status"] == "running"

        await wait_for(claimed, what="the doomed agent to claim the job")
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        async with fake_agent(server, tmp_path):
            status, jobs = await finished_jobs(api, pipeline["id"])
    assert status == "success" and jobs["build"]["status"] == "success"
