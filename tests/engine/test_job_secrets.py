"""Project and context variables reach jobs at claim time in CircleCI's precedence; restricted or unknown
contexts make a job `unauthorized`; values are never stored in clear, not even in the queued task."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import create_engine, func, select

from rondo.store.migrate import sync_url
from rondo.store.models import TaskSecrets
from tests.conftest import commit_files, make_repo
from tests.engine.harness import InProcessServer, wait_for
from tests.plaintext import database_text

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    environment:
      SHARED: from-job
    steps:
      - run: echo build
workflows:
  main:
    jobs:
      - build:
          context: [first, second]
      - build:
          name: locked
          context: prod
      - build:
          name: after-locked
          requires: [locked]
      - build:
          name: missing
          context: nope
"""

PROJECT_VARS = {
    "SHARED": "shared-from-project",
    "PROJECT_ONLY": "project-only-value",
    "CIRCLE_BRANCH": "branch-from-project",
    "BY_CONTEXT": "overridden-project-value",
}
FIRST = {"BY_CONTEXT": "first-context-value", "ORDER": "first-order-value", "CIRCLE_JOB": "job-from-context"}
SECOND = {"ORDER": "second-order-value", "SECOND_ONLY": "second-only-value"}
PROD = {"PROD_KEY": "prod-key-value"}


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[InProcessServer]:
    with InProcessServer(tmp_path / "data", database_url) as srv:
        yield srv


async def ok(resp: httpx2.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


async def claim_all(server: InProcessServer) -> dict[str, dict[str, Any]]:
    async with httpx2.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {server.agent_token}"}) as a:
        agent = await ok(await a.post("/agent/v1/register", json={"name": "probe", "executors": ["machine"]}))
        specs: dict[str, dict[str, Any]] = {}
        while True:
            resp = await a.post("/agent/v1/claim", json={"agent_id": agent["agent_id"], "wait_s": 2})
            if resp.status_code == 204:
                return specs
            spec = await ok(resp)
            specs[spec["job_name"]] = spec
            done = {"type": "task_finished", "status": "success", "at": datetime.now(UTC).isoformat()}
            batch = {"agent_id": agent["agent_id"], "seq": 1, "events": [done]}
            await ok(await a.post(f"/agent/v1/tasks/{spec['id']}/events", json=batch))


async def jobs_of(api: httpx2.AsyncClient, pipeline_id: str) -> dict[str, dict[str, Any]]:
    async def finished() -> dict[str, dict[str, Any]] | None:
        wfs = (await api.get(f"/api/v2/pipeline/{pipeline_id}/workflow")).json()["items"]
        if not wfs or wfs[0]["status"] in ("running", "on_hold"):
            return None
        jobs = (await api.get(f"/api/v2/workflow/{wfs[0]['id']}/job")).json()["items"]
        return {"__workflow__": wfs[0], **{j["name"]: j for j in jobs}}

    return await wait_for(finished, what="the workflow to finish")  # type: ignore[no-any-return]


async def test_variables_precedence_restrictions_and_no_clear_text(
    server: InProcessServer, tmp_path: Path, database_url: str
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "no config yet\n"})
    async with server.api() as api:
        project = await ok(await api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}), 201)
        org_id = project["organization_id"]
        for name, value in PROJECT_VARS.items():
            await ok(await api.post("/api/v2/project/gh/acme/app/envvar", json={"name": name, "value": value}), 201)
        contexts = {}
        for ctx_name, values in (("first", FIRST), ("second", SECOND), ("prod", PROD)):
            ctx = await ok(await api.post("/api/v2/context", json={"name": ctx_name, "owner": {"id": org_id}}))
            contexts[ctx_name] = ctx["id"]
            for name, value in values.items():
                await ok(
                    await api.put(f"/api/v2/context/{ctx['id']}/environment-variable/{name}", json={"value": value})
                )
        group = await ok(await api.post(f"/api/v2/organizations/{org_id}/groups", json={"name": "ops"}), 201)
        restriction = {"restriction_type": "group", "restriction_value": group["id"]}
        await ok(await api.post(f"/api/v2/context/{contexts['prod']}/restrictions", json=restriction), 201)

        commit_files(repo, {".circleci/config.yml": CONFIG}, "add config")
        pipeline = await ok(await api.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"}), 201)
        assert await server_has_queued(api, pipeline["id"])
        # Queued tasks carry their variables sealed; nothing is in clear anywhere in the database.
        stored = database_text(database_url)
        for value in [*PROJECT_VARS.values(), *FIRST.values(), *SECOND.values(), *PROD.values()]:
            assert value not in stored, value
        specs = await claim_all(server)
        jobs = await jobs_of(api, pipeline["id"])

        env = specs["build"]["environment"]
        assert env["SHARED"] == "from-job"  # the job's environment over everything
        assert env["CIRCLE_BRANCH"] == "main"  # built-in variables over project variables
        assert env["CIRCLE_JOB"] == "build"  # ... and over context variables
        assert env["BY_CONTEXT"] == "first-context-value"  # context variables over project variables
        assert env["ORDER"] == "second-order-value"  # a later context over an earlier one
        assert env["PROJECT_ONLY"] == "project-only-value"
        assert env["SECOND_ONLY"] == "second-only-value"
        assert "PROD_KEY" not in env
        assert {"project-only-value", "second-order-value", "first-context-value"} <= set(
            specs["build"]["secret_values"]
        )

        assert set(specs) == {"build"}  # the others never reached an agent
        assert jobs["locked"]["status"] == "unauthorized"
        assert jobs["missing"]["status"] == "unauthorized"
        assert jobs["after-locked"]["status"] == "not_run"
        assert jobs["__workflow__"]["status"] == "unauthorized"
        details = await ok(await api.get(f"/api/v2/project/gh/acme/app/job/{jobs['locked']['job_number']}"))
        assert "restricted to security groups" in details["messages"][0]["message"]
        details = await ok(await api.get(f"/api/v2/project/gh/acme/app/job/{jobs['missing']['job_number']}"))
        assert "'nope' does not exist" in details["messages"][0]["message"]

        # In the group, the same user's rerun gets the restricted context.
        await ok(await api.put(f"/api/v2/organizations/{org_id}/groups/{group['id']}/members/admin"))
        workflow_id = jobs["__workflow__"]["id"]
        rerun = await ok(await api.post(f"/api/v2/workflow/{workflow_id}/rerun", json={"from_failed": True}), 202)
        specs = await claim_all(server)
        assert specs["locked"]["environment"]["PROD_KEY"] == "prod-key-value"
        wf_jobs = (await api.get(f"/api/v2/workflow/{rerun['workflow_id']}/job")).json()["items"]
        statuses = {j["name"]: j["status"] for j in wf_jobs}
        assert statuses["locked"] == "success" and statuses["missing"] == "unauthorized"

    # A finished task keeps no copy of its variables.
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(TaskSecrets)).scalar_one() == 0
    finally:
        engine.dispose()


async def server_has_queued(api: httpx2.AsyncClient, pipeline_id: str) -> bool:
    async def queued() -> bool:
        wfs = (await api.get(f"/api/v2/pipeline/{pipeline_id}/workflow")).json()["items"]
        if not wfs:
            return False
        jobs = (await api.get(f"/api/v2/workflow/{wfs[0]['id']}/job")).json()["items"]
        return any(j["name"] == "build" and j["status"] == "queued" for j in jobs)

    return bool(await wait_for(queued, what="the build job to be queued"))


MEMBERS_CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps: [{run: echo build}]
workflows:
  main:
    jobs:
      - hold: {type: approval}
      - build: {context: first, requires: [hold]}
"""


async def held(api: httpx2.AsyncClient, pipeline_id: str) -> tuple[str, str]:
    """The workflow once it waits on its hold job, and the hold's approval request id."""

    async def on_hold() -> tuple[str, str] | None:
        wfs = (await api.get(f"/api/v2/pipeline/{pipeline_id}/workflow")).json()["items"]
        if not wfs or wfs[0]["status"] != "on_hold":
            return None
        jobs = (await api.get(f"/api/v2/workflow/{wfs[0]['id']}/job")).json()["items"]
        return wfs[0]["id"], next(j["approval_request_id"] for j in jobs if j["name"] == "hold")

    return await wait_for(on_hold, what="the workflow to wait on its hold")  # type: ignore[no-any-return]


async def test_a_context_needs_a_triggering_user_who_works_in_its_organization(
    server: InProcessServer, tmp_path: Path
) -> None:
    """A user who leaves the organization while their pipeline waits on a hold: once approved, its job
    may not use the organization's context (a user outside it cannot trigger a pipeline of it at all)."""
    repo = make_repo(tmp_path / "repo", {".circleci/config.yml": MEMBERS_CONFIG})
    async with server.api() as api:
        project = await ok(await api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}), 201)
        org_id = project["organization_id"]
        ctx = await ok(await api.post("/api/v2/context", json={"name": "first", "owner": {"id": org_id}}))
        await ok(await api.put(f"/api/v2/context/{ctx['id']}/environment-variable/KEY", json={"value": "k-value"}))
        dev = await ok(await api.post("/api/v2/admin/users", json={"login": "dev", "name": "Developer"}), 201)
        async with httpx2.AsyncClient(base_url=server.url, headers={"Circle-Token": dev["token"]}) as as_dev:
            # acme lists nobody yet: open to dev, whose pipeline then waits on its hold.
            waiting = await ok(await as_dev.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"}), 201)
            workflow_id, hold_id = await held(api, waiting["id"])
            await ok(await api.put(f"/api/v2/organizations/{org_id}/members/admin"))  # now acme lists its members
            gone = await as_dev.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"})
            assert gone.status_code == 404, gone.text
            await ok(await api.post(f"/api/v2/workflow/{workflow_id}/approve/{hold_id}"), 202)
            jobs = await jobs_of(api, waiting["id"])
            assert jobs["build"]["status"] == "unauthorized"
            details = await ok(await api.get(f"/api/v2/project/gh/acme/app/job/{jobs['build']['job_number']}"))
            assert "which user dev does not work in" in details["messages"][0]["message"]

            await ok(await api.put(f"/api/v2/organizations/{org_id}/members/dev"))
            allowed = await ok(await as_dev.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"}), 201)
            workflow_id, hold_id = await held(api, allowed["id"])
            await ok(await as_dev.post(f"/api/v2/workflow/{workflow_id}/approve/{hold_id}"), 202)
            assert await server_has_queued(api, allowed["id"])
            assert (await claim_all(server))["build"]["environment"]["KEY"] == "k-value"
