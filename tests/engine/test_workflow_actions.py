"""Approvals, cancel, reruns (from start, from failed, selected jobs) and automatic reruns, over the API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.engine.harness import InProcessServer, wait_for
from tests.engine.test_engine_with_fake_agent import FINAL, fake_agent, follow, server  # noqa: F401

HOLD = """\
version: 2.1
jobs:
  build: {machine: true, steps: [{run: build}]}
  deploy: {machine: true, steps: [{run: deploy}]}
workflows:
  main:
    jobs:
      - build
      - hold: {type: approval, requires: [build]}
      - deploy: {requires: [hold]}
"""

FLAKY = """\
version: 2.1
jobs:
  build: {machine: true, steps: [{run: build}]}
  test: {machine: true, steps: [{run: {command: test, environment: {RONDO_FAKE_EXIT_CODE: "1"}}}]}
  deploy: {machine: true, steps: [{run: deploy}]}
workflows:
  main:
    max_auto_reruns: 2
    jobs: [build, {test: {requires: [build]}}, {deploy: {requires: [test]}}]
"""

SLOW = """\
version: 2.1
jobs:
  slow: {machine: true, steps: [{run: {command: slow, environment: {RONDO_FAKE_SLEEP: "30"}}}]}
  after: {machine: true, steps: [{run: after}]}
workflows:
  main: {jobs: [slow, {after: {requires: [slow]}}]}
"""


async def workflows(api: httpx2.AsyncClient, pipeline_id: str) -> list[dict[str, Any]]:
    return list((await api.get(f"/api/v2/pipeline/{pipeline_id}/workflow")).json()["items"])


async def jobs(api: httpx2.AsyncClient, workflow_id: str) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for j in (await api.get(f"/api/v2/workflow/{workflow_id}/job")).json()["items"]}


async def workflow_in(api: httpx2.AsyncClient, workflow_id: str, statuses: set[str]) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        wf = (await api.get(f"/api/v2/workflow/{workflow_id}")).json()
        return wf if wf["status"] in statuses else None

    return dict(await wait_for(check, what=f"workflow {workflow_id} to be {statuses}"))


async def test_approval_holds_until_approved(server: InProcessServer, tmp_path: Path) -> None:  # noqa: F811
    async with server.api() as api, fake_agent(server, tmp_path):
        pipeline = await follow(api, tmp_path, HOLD)
        (wf,) = await workflows(api, pipeline["id"])
        await workflow_in(api, wf["id"], {"on_hold"})
        held = await jobs(api, wf["id"])
        assert (held["build"]["status"], held["hold"]["status"], held["deploy"]["status"]) == (
            "success", "on_hold", "blocked",
        )  # fmt: skip
        wrong = await api.post(f"/api/v2/workflow/{wf['id']}/approve/{held['deploy']['id']}")
        assert wrong.status_code == 404
        ok = await api.post(f"/api/v2/workflow/{wf['id']}/approve/{held['hold']['approval_request_id']}")
        assert (ok.status_code, ok.json()) == (202, {"message": "Accepted."})
        assert (await workflow_in(api, wf["id"], FINAL))["status"] == "success"
        again = await api.post(f"/api/v2/workflow/{wf['id']}/approve/{held['hold']['approval_request_id']}")
        assert again.status_code == 400
        assert (await jobs(api, wf["id"]))["deploy"]["status"] == "success"


async def test_cancel_a_held_workflow(server: InProcessServer, tmp_path: Path) -> None:  # noqa: F811
    async with server.api() as api, fake_agent(server, tmp_path):
        pipeline = await follow(api, tmp_path, HOLD)
        (wf,) = await workflows(api, pipeline["id"])
        await workflow_in(api, wf["id"], {"on_hold"})
        resp = await api.post(f"/api/v2/workflow/{wf['id']}/cancel")
        assert resp.status_code == 202
        done = await workflow_in(api, wf["id"], FINAL)
        assert done["status"] == "canceled" and done["canceled_by"] == "admin"
        statuses = {n: j["status"] for n, j in (await jobs(api, wf["id"])).items()}
        assert statuses == {"build": "success", "hold": "canceled", "deploy": "canceled"}


async def test_cancel_a_running_job_stops_it_on_the_agent(server: InProcessServer, tmp_path: Path) -> None:  # noqa: F811
    async with server.api() as api, fake_agent(server, tmp_path):
        pipeline = await follow(api, tmp_path, SLOW)
        (wf,) = await workflows(api, pipeline["id"])

        async def running() -> dict[str, Any] | None:
            slow = (await jobs(api, wf["id"]))["slow"]
            return slow if slow["status"] == "running" else None

        slow = await wait_for(running, what="the slow job to run")
        resp = await api.post(f"/api/v2/project/gh/acme/app/job/{slow['job_number']}/cancel")
        assert resp.status_code == 200, resp.text
        assert (await workflow_in(api, wf["id"], FINAL))["status"] == "canceled"
        statuses = {n: j["status"] for n, j in (await jobs(api, wf["id"])).items()}
        assert statuses == {"slow": "canceled", "after": "not_run"}


async def test_automatic_reruns_then_manual_reruns(server: InProcessServer, tmp_path: Path) -> None:  # noqa: F811
    async with server.api() as api, fake_agent(server, tmp_path):
        pipeline = await follow(api, tmp_path, FLAKY)

        async def three_done() -> list[dict[str, Any]] | None:
            wfs = await workflows(api, pipeline["id"])
            return wfs if len(wfs) == 3 and all(w["status"] in FINAL for w in wfs) else None

        wfs = sorted(await wait_for(three_done, what="the original and two automatic reruns"),
                     key=lambda w: w["auto_rerun_number"])  # fmt: skip
        assert [w["auto_rerun_number"] for w in wfs] == [0, 1, 2]
        assert all(w["status"] == "failed" and w["max_auto_reruns"] == 2 for w in wfs)
        last = wfs[-1]
        carried = await jobs(api, last["id"])
        # Rerun from failed: build is carried over (it succeeded); test ran again; deploy never ran.
        assert carried["build"]["status"] == "success" and "job_number" not in carried["build"]
        assert carried["test"]["status"] == "failed" and carried["deploy"]["status"] == "not_run"

        # A manual rerun of selected jobs (just build, sparse) makes a fourth workflow that succeeds.
        resp = await api.post(
            f"/api/v2/workflow/{last['id']}/rerun", json={"jobs": [carried["build"]["id"]], "sparse_tree": True}
        )
        assert resp.status_code == 202, resp.text
        rerun = await workflow_in(api, resp.json()["workflow_id"], FINAL)
        assert rerun["status"] == "failed"  # test keeps its failure; only build ran again
        statuses = {n: j["status"] for n, j in (await jobs(api, rerun["id"])).items()}
        assert statuses == {"build": "success", "test": "failed", "deploy": "not_run"}

        both = await api.post(f"/api/v2/workflow/{last['id']}/rerun", json={"jobs": [], "from_failed": True})
        assert both.status_code == 202
        bad = await api.post(f"/api/v2/workflow/{last['id']}/rerun", json={"jobs": [carried["build"]["id"]],
                                                                           "from_failed": True})  # fmt: skip
        assert bad.status_code == 400 and "not both" in bad.json()["message"]
        missing = await api.post("/api/v2/workflow/00000000-0000-0000-0000-000000000000/rerun", json={})
        assert (missing.status_code, missing.json()) == (404, {"message": "Workflow not found"})


async def test_a_queued_job_says_why_it_waits(server: InProcessServer, tmp_path: Path) -> None:  # noqa: F811
    config = """\
version: 2.1
jobs:
  big: {machine: true, resource_class: acme/gpu, steps: [{run: big}]}
  small: {docker: [{image: cimg/base:stable}], steps: [{run: small}]}
workflows:
  main: {jobs: [big, small]}
"""
    async with server.api() as api:
        pipeline = await follow(api, tmp_path, config)
        (wf,) = await workflows(api, pipeline["id"])
        found = await jobs(api, wf["id"])
        details = (await api.get(f"/api/v2/project/gh/acme/app/job/{found['small']['job_number']}")).json()
        assert details["status"] == "queued"
        assert details["messages"] == [
            {"type": "info", "reason": "queued", "message": "Waiting for an agent: no agent is connected"}
        ]
        async with fake_agent(server, tmp_path):  # offers machine jobs of the standard classes only

            async def reason() -> str | None:
                body = (await api.get(f"/api/v2/project/gh/acme/app/job/{found['big']['job_number']}")).json()
                text = body["messages"][0]["message"] if body["messages"] else ""
                return text if "no connected agent offers" in text else None

            text = await wait_for(reason, what="the reason to name the missing resource class")
            assert text == "Waiting for an agent: no connected agent offers resource class acme/gpu for machine jobs"
            assert (await api.get(f"/api/v2/project/gh/acme/app/job/{found['big']['job_number']}")).json()[
                "status"
            ] == "queued"
        await api.post(f"/api/v2/workflow/{wf['id']}/cancel")


async def test_a_job_group_runs_between_its_markers(server: InProcessServer, tmp_path: Path) -> None:  # noqa: F811
    config = """\
version: 2.1
jobs:
  lint: {machine: true, steps: [{run: lint}]}
  unit: {machine: true, steps: [{run: unit}]}
  deploy: {machine: true, steps: [{run: deploy}]}
job-groups:
  checks:
    jobs: [lint, {unit: {requires: [lint]}}]
workflows:
  main: {jobs: [checks, {deploy: {requires: [checks]}}]}
"""
    async with server.api() as api, fake_agent(server, tmp_path):
        pipeline = await follow(api, tmp_path, config)
        (wf,) = await workflows(api, pipeline["id"])
        assert (await workflow_in(api, wf["id"], FINAL))["status"] == "success"
        statuses = {n: j["status"] for n, j in (await jobs(api, wf["id"])).items()}
        assert statuses == {
            n: "success" for n in ("checks-start", "checks-lint", "checks-unit", "checks-end", "deploy")
        }


async def test_serial_group_runs_one_job_at_a_time(server: InProcessServer, tmp_path: Path) -> None:  # noqa: F811
    config = """\
version: 2.1
jobs:
  deploy: {machine: true, steps: [{run: {command: deploy, environment: {RONDO_FAKE_SLEEP: "1.5"}}}]}
workflows:
  main:
    jobs: [{deploy: {serial-group: << pipeline.project.slug >>/deploy}}]
"""
    async with server.api() as api, fake_agent(server, tmp_path, tasks=3):
        first = await follow(api, tmp_path, config)
        second = (await api.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"})).json()
        (wf1,) = await workflows(api, first["id"])
        (wf2,) = await workflows(api, second["id"])

        async def second_waits() -> dict[str, Any] | None:
            job = (await jobs(api, wf2["id"]))["deploy"]
            return job if job["status"] == "blocked" else None

        await wait_for(second_waits, what="the second deploy to wait for the first")
        assert (await jobs(api, wf1["id"]))["deploy"]["status"] in ("queued", "running")
        assert (await workflow_in(api, wf1["id"], FINAL))["status"] == "success"
        assert (await workflow_in(api, wf2["id"], FINAL))["status"] == "success"
        one, two = (await jobs(api, wf1["id"]))["deploy"], (await jobs(api, wf2["id"]))["deploy"]
        assert two["started_at"] >= one["stopped_at"], "the second deploy started after the first ended"


@pytest.fixture
def slow_heartbeats(tmp_path: Path, database_url: str) -> Iterator[InProcessServer]:
    with InProcessServer(tmp_path / "data", database_url, heartbeat_interval_s=30.0) as srv:
        yield srv


async def test_cancel_is_pushed_to_the_agent_not_waited_for(slow_heartbeats: InProcessServer, tmp_path: Path) -> None:
    # Heartbeats every 30 s: only the heartbeat long-poll answering at once can stop the step in time.
    async with slow_heartbeats.api() as api, fake_agent(slow_heartbeats, tmp_path):
        pipeline = await follow(api, tmp_path, SLOW)
        (wf,) = await workflows(api, pipeline["id"])

        async def running() -> dict[str, Any] | None:
            slow = (await jobs(api, wf["id"]))["slow"]
            return slow if slow["status"] == "running" else None

        await wait_for(running, what="the slow job to run")
        await asyncio.sleep(1.0)  # the agent's heartbeat long-poll is now waiting
        assert (await api.post(f"/api/v2/workflow/{wf['id']}/cancel")).status_code == 202

        async def canceled() -> dict[str, Any] | None:
            found = (await api.get(f"/api/v2/workflow/{wf['id']}")).json()
            return found if found["status"] == "canceled" else None

        await wait_for(canceled, limit_s=10, what="the cancel to reach the agent long before a 30 s heartbeat")
