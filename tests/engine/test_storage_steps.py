"""Caches, workspaces, artifacts and test results through the whole stack: an in-process server, a real
agent with the machine executor, and object storage on the local folder and on S3 (moto on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from rondo.agent.executors.machine import MachineExecutor
from rondo.agent.loop import AgentConfig, AgentLoop
from rondo.engine.janitor import Janitor
from rondo.objects import S3Settings
from rondo.secrets.server_key import load_or_create_server_key
from rondo.server.app import build_object_store
from rondo.store.db import Database
from rondo.store.types import utcnow
from tests.conftest import commit_files, make_repo
from tests.engine.harness import InProcessServer, wait_for

FINAL = {"success", "failed", "error", "canceled", "not_run"}

JUNIT = """<testsuite name="app">
  <testcase classname="app.Slow" name="test_slow" file="tests/test_slow.py" time="5.0"/>
  <testcase classname="app.Medium" name="test_medium" file="tests/test_medium.py" time="4.5"/>
  <testcase classname="app.Fast" name="test_fast" file="tests/test_fast.py" time="1.0">
    <failure message="expected 1">assert 1 == 2</failure>
  </testcase>
</testsuite>
"""

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - checkout
      - restore_cache:
          keys: ['v1-deps-{{ .Branch }}-', 'v1-deps-']
      - run:
          name: Make things
          command: |
            mkdir -p deps ws/dist out reports/junit
            cp lock.txt deps/lib.txt
            echo built > ws/dist/app.bin
            echo '<h1>report</h1>' > out/index.html
            echo '{"ok": true}' > out/data.json
            echo plain > out/notes.txt
            cp junit.xml reports/junit/results.xml
            printf 'app.Fast\\napp.Medium\\napp.Slow\\n' | circleci tests split --split-by=timings \\
              --timings-type=classname --index 0 --total 2
      - save_cache:
          key: v1-deps-{{ .Branch }}-{{ checksum "lock.txt" }}
          paths: [deps]
      - save_cache:
          name: Saving the same key again
          key: v1-deps-{{ .Branch }}-{{ checksum "lock.txt" }}
          paths: [deps]
      - persist_to_workspace: {root: ws, paths: ["dist/*.bin"]}
      - store_artifacts: {path: out, destination: site}
      - store_test_results: {path: reports}
  test:
    machine: true
    steps:
      - attach_workspace: {at: ~/attached}
      - run: {name: Read the workspace, command: cat ~/attached/dist/app.bin}
      - restore_cache: {key: v1-deps-}
      - run: {name: Read the cache, command: cat deps/lib.txt}
workflows:
  main:
    jobs:
      - build
      - test: {requires: [build]}
"""


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    """Settings a test changes (by parametrizing this name)."""
    return {}


@pytest.fixture(params=["local", "s3"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, server_overrides: dict[str, Any]
) -> Iterator[InProcessServer]:
    extra: dict[str, Any] = dict(server_overrides)
    if request.param == "s3":
        s3: S3Settings = request.getfixturevalue("s3_settings")
        extra |= {
            "s3_bucket": s3.bucket,
            "s3_endpoint": s3.endpoint_url,
            "s3_access_key_id": s3.access_key_id,
            "s3_secret_access_key": s3.secret_access_key,
        }
    # Pipelines come from the API only: the ref watcher would add its own for new commits.
    extra.setdefault("ref_poll_interval_s", 3600.0)
    with InProcessServer(tmp_path / "data", database_url, heartbeat_interval_s=0.5, **extra) as srv:
        yield srv


@contextlib.asynccontextmanager
async def machine_agent(server: InProcessServer, tmp_path: Path) -> AsyncIterator[AgentLoop]:
    work = tmp_path / "agent"
    config = AgentConfig(server.url, server.agent_token, work, name="machine", tasks=2, claim_wait_s=5)
    agent = AgentLoop(config, executors={"machine": MachineExecutor(work)})
    runner = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        agent.request_drain()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(runner, 20)


async def finished(api: httpx2.AsyncClient, pipeline_id: str, limit_s: float = 60) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        wfs = (await api.get(f"/api/v2/pipeline/{pipeline_id}/workflow")).json()["items"]
        return wfs[0] if wfs and wfs[0]["status"] in FINAL else None

    return dict(await wait_for(check, limit_s, "the workflow to finish"))


async def jobs_of(api: httpx2.AsyncClient, workflow_id: str) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for j in (await api.get(f"/api/v2/workflow/{workflow_id}/job")).json()["items"]}


async def outputs(api: httpx2.AsyncClient, number: int) -> dict[str, str]:
    build = (await api.get(f"/api/v1.1/project/github/acme/app/{number}")).json()
    out = {}
    for step in build["steps"]:
        resp = await api.get(step["actions"][0]["output_url"])
        out[step["name"]] = "".join(m["message"] for m in resp.json())
    return out


async def test_caches_workspaces_artifacts_and_tests(server: InProcessServer, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".circleci/config.yml": CONFIG, "lock.txt": "deps v1\n", "junit.xml": JUNIT})
    async with server.api() as api, machine_agent(server, tmp_path):
        first = (await api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})).json()["first_pipeline"]
        wf = await finished(api, first["id"])
        jobs = await jobs_of(api, wf["id"])
        build = jobs["build"]["job_number"]
        out = await outputs(api, build)
        assert wf["status"] == "success", out
        test = jobs["test"]["job_number"]
        assert "No cache is found for key: v1-deps-main-" in out["Restoring Cache"]
        assert "Error auto-detecting timing type" in out["Make things"]  # no timings yet: split by name
        assert "Stored Cache to v1-deps-main-" in out["Saving Cache"] and "Archive size:" in out["Saving Cache"]
        assert "Skipping cache generation, cache already exists for key: v1-deps-main-" in out[
            "Saving the same key again"]  # fmt: skip
        assert "Total size uploaded" in out["Persisting to Workspace"]
        test_out = await outputs(api, test)
        assert "built" in test_out["Read the workspace"] and "deps v1" in test_out["Read the cache"]

        # Artifacts: listed in both APIs, downloaded with either token form, with CircleCI's content types.
        items = (await api.get(f"/api/v2/project/gh/acme/app/{build}/artifacts")).json()
        assert items["next_page_token"] is None
        by_path = {a["path"]: a for a in items["items"]}
        assert set(by_path) == {"site/index.html", "site/data.json", "site/notes.txt"}
        assert {a["node_index"] for a in by_path.values()} == {0}
        v1 = (await api.get(f"/api/v1.1/project/gh/acme/app/{build}/artifacts")).json()
        assert {(a["path"], a["pretty_path"]) for a in v1} == {(p, p) for p in by_path}
        async with httpx2.AsyncClient(follow_redirects=True, timeout=30) as anonymous:
            html = await anonymous.get(by_path["site/index.html"]["url"], headers={"Circle-Token": server.admin_token})
            assert html.status_code == 200 and html.text == "<h1>report</h1>\n"
            assert html.headers["content-type"].startswith("text/plain")  # unsafe types are not rendered
            data = await anonymous.get(by_path["site/data.json"]["url"] + f"?circle-token={server.admin_token}")
            assert data.json() == {"ok": True} and data.headers["content-type"].startswith("application/json")
            refused = await anonymous.get(by_path["site/notes.txt"]["url"])
            assert refused.status_code == 401
        latest = (await api.get("/api/v1.1/project/gh/acme/app/latest/artifacts", params={"branch": "main"})).json()
        assert latest == []  # the newest build is `test`, which stored none

        # Test results: v2 items and the v1.1 wrapper.
        tests = (await api.get(f"/api/v2/project/gh/acme/app/{build}/tests")).json()
        assert {(t["classname"], t["result"], t["run_time"]) for t in tests["items"]} == {
            ("app.Slow", "success", 5.0), ("app.Medium", "success", 4.5), ("app.Fast", "failure", 1.0)}  # fmt: skip
        fast = next(t for t in tests["items"] if t["classname"] == "app.Fast")
        assert fast["message"] == "expected 1\nassert 1 == 2" and fast["file"] == "tests/test_fast.py"
        assert fast["source"] == "junit"
        v1_tests = (await api.get(f"/api/v1.1/project/gh/acme/app/{build}/tests")).json()
        assert len(v1_tests["tests"]) == 3 and v1_tests["exceptions"] == []

        # A new commit: its build restores the older cache by prefix and splits by the stored timings;
        # its test job restores the newest cache that matches.
        commit_files(repo, {"lock.txt": "deps v2\n"}, "new deps")
        second = (await api.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"})).json()
        wf2 = await finished(api, second["id"])
        jobs2 = await jobs_of(api, wf2["id"])
        out2 = await outputs(api, jobs2["build"]["job_number"])
        assert wf2["status"] == "success", out2
        assert f"Found a cache from build {build} at v1-deps-main-" in out2["Restoring Cache"]
        assert out2["Make things"].split() == ["app.Slow"]  # 5 s on node 0; 4.5 + 1 on node 1
        test2 = await outputs(api, jobs2["test"]["job_number"])
        assert f"Found a cache from build {jobs2['build']['job_number']}" in test2["Restoring Cache"]
        assert "deps v2" in test2["Read the cache"]

        # The janitor: after the Storage Object Expiry, everything jobs stored is gone, objects and rows.
        objects = build_object_store(server.settings, load_or_create_server_key(server.settings.resolved_data_dir))
        assert await objects.list("caches/") and await objects.list("artifacts/") and await objects.list("output/")
        db = Database(server.settings.resolved_database_url)
        try:
            janitor = Janitor(db, objects, expiry_days=30)
            assert (await janitor.sweep()).deleted == {}  # nothing is old yet
            report = await janitor.sweep(utcnow() + timedelta(days=31))
        finally:
            await db.close()
        assert report.deleted["caches"] == 2 and report.deleted["artifacts"] == 6
        assert report.deleted["test results"] == 6 and report.deleted["workspace layers"] == 2
        for prefix in ("caches/", "workspaces/", "artifacts/", "output/"):
            assert await objects.list(prefix) == [], prefix
        assert (await api.get(f"/api/v2/project/gh/acme/app/{build}/artifacts")).json()["items"] == []
        assert (await api.get(f"/api/v2/project/gh/acme/app/{build}/tests")).json()["items"] == []
        assert all(text == "" for text in (await outputs(api, build)).values())


RERUN_CONFIG = """\
version: 2.1
jobs:
  a:
    machine: true
    steps:
      - run: mkdir -p ws && echo from-a > ws/same.txt && echo only-a > ws/a.txt
      - persist_to_workspace: {root: ws, paths: ["*"]}
  b:
    machine: true
    steps:
      - run: mkdir -p ws && echo from-b > ws/same.txt
      - persist_to_workspace: {root: ws, paths: [same.txt]}
  both:
    machine: true
    steps:
      - attach_workspace: {at: ws}
  after-a:
    machine: true
    steps:
      - attach_workspace: {at: ws}
      - run: cat ws/a.txt && test -f FLAG || { touch FLAG_PATH; exit 1; }
  big:
    machine: true
    steps:
      - run: mkdir -p out && head -c 3000000 /dev/urandom > out/big.bin
      - store_artifacts: {path: out}
workflows:
  main:
    jobs:
      - a
      - b
      - both: {requires: [a, b]}
      - after-a: {requires: [a]}
      - big
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("server_overrides", [{"max_object_size_mb": 1}])
async def test_concurrent_layers_conflict_reruns_keep_the_workspace_and_oversized_uploads_fail(
    server: InProcessServer, tmp_path: Path
) -> None:
    flag = tmp_path / f"flag-{uuid.uuid4().hex}"
    config = RERUN_CONFIG.replace("test -f FLAG", f"test -f {flag}").replace("FLAG_PATH", str(flag))
    repo = make_repo(tmp_path / "repo", {".circleci/config.yml": config})
    server_settings = server.settings
    assert server_settings.max_object_size_mb == 1
    async with server.api() as api, machine_agent(server, tmp_path):
        first = (await api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})).json()["first_pipeline"]
        wf = await finished(api, first["id"])
        jobs = await jobs_of(api, wf["id"])
        assert wf["status"] == "failed"
        both = await outputs(api, jobs["both"]["job_number"])
        assert "Concurrent upstream jobs persisted the same file(s) into the workspace: same.txt" in "".join(
            both.values())  # fmt: skip
        big = await outputs(api, jobs["big"]["job_number"])
        assert jobs["big"]["status"] == "failed"
        assert "over this server's limit of 1.0 MiB per object" in "".join(big.values())
        assert (await api.get(f"/api/v2/project/gh/acme/app/{jobs['big']['job_number']}/artifacts")).json()[
            "items"] == []  # fmt: skip
        assert jobs["after-a"]["status"] == "failed" and flag.exists()

        # Rerun from failed: `a` does not run again, yet `after-a` sees its layer of the original run.
        rerun = await api.post(f"/api/v2/workflow/{wf['id']}/rerun", json={"from_failed": True})
        assert rerun.status_code == 202, rerun.text

        async def rerun_done() -> dict[str, Any] | None:
            wfs = (await api.get(f"/api/v2/pipeline/{first['id']}/workflow")).json()["items"]
            new = next((w for w in wfs if w["id"] == rerun.json()["workflow_id"]), None)
            return new if new and new["status"] in FINAL else None

        wf2 = await wait_for(rerun_done, 60, "the rerun")
        jobs2 = await jobs_of(api, wf2["id"])
        after = await outputs(api, jobs2["after-a"]["job_number"])
        assert jobs2["after-a"]["status"] == "success", after
        assert "only-a" in "".join(after.values())
