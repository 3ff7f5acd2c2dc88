"""Flaky tests and test metrics from real stored test results: an in-process server, a machine agent
running real jobs that write JUnit XML, reruns of failed workflows, and pycircleci reading the answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pycircleci.api import Api

from tests.conftest import commit_files, make_repo
from tests.engine.harness import InProcessServer, wait_for
from tests.engine.test_storage_steps import FINAL, finished, jobs_of, machine_agent

# Results go to reports/pytest/, so their source is "pytest" (the directory, as CircleCI names it).
# test_fetch fails until the flag file exists (the first run of each pipeline makes it, so a rerun
# passes: a flake); test_query always fails; test_fixed fails until the commit that adds fixed.txt.
CONFIG = """\
version: 2.1
jobs:
  test:
    machine: true
    steps:
      - checkout
      - run:
          name: Run the tests
          command: |
            mkdir -p reports/pytest
            fetch='' fixed=''
            test -f FLAG || fetch='<failure message="socket timeout">timed out</failure>'
            test -f fixed.txt || fixed='<failure message="not fixed">no fixed.txt</failure>'
            cat > reports/pytest/junit.xml <<XML
            <testsuite name="app">
              <testcase classname="app.Net" name="test_fetch" file="tests/test_net.py" time="1.5">$fetch</testcase>
              <testcase classname="app.Db" name="test_query" file="tests/test_db.py" time="0.5">
                <failure message="always">wrong answer</failure>
              </testcase>
              <testcase classname="app.Fix" name="test_fixed" file="tests/test_fix.py" time="0.1">$fixed</testcase>
              <testcase classname="app.Slow" name="test_slow" file="tests/test_slow.py" time="4.0"/>
            </testsuite>
            XML
      - store_test_results: {path: reports}
      - run:
          name: Fail the first run
          command: test -f FLAG || { touch FLAG; exit 1; }
workflows:
  main:
    jobs: [test]
"""


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[InProcessServer]:
    with InProcessServer(tmp_path / "data", database_url, ref_poll_interval_s=3600.0) as srv:
        yield srv


async def rerun_failed(api: httpx2.AsyncClient, pipeline_id: str, workflow_id: str) -> dict[str, Any]:
    resp = await api.post(f"/api/v2/workflow/{workflow_id}/rerun", json={"from_failed": True})
    assert resp.status_code == 202, resp.text
    new_id = resp.json()["workflow_id"]

    async def done() -> dict[str, Any] | None:
        wfs = (await api.get(f"/api/v2/pipeline/{pipeline_id}/workflow")).json()["items"]
        new = next((w for w in wfs if w["id"] == new_id), None)
        return new if new and new["status"] in FINAL else None

    return dict(await wait_for(done, 60, "the rerun"))


async def fail_then_pass(api: httpx2.AsyncClient, pipeline: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Run a pipeline's workflow (it fails) and rerun it from failed (it passes); the failed job's number."""
    first = await finished(api, pipeline["id"])
    assert first["status"] == "failed", first
    failed_job = (await jobs_of(api, first["id"]))["test"]["job_number"]
    again = await rerun_failed(api, pipeline["id"], first["id"])
    assert again["status"] == "success", again
    return first, failed_job


async def test_flaky_tests_and_test_metrics(server: InProcessServer, tmp_path: Path) -> None:
    flag = tmp_path / f"flag-{uuid.uuid4().hex}"
    repo = make_repo(tmp_path / "repo", {".circleci/config.yml": CONFIG.replace("FLAG", str(flag))})
    async with server.api() as api, machine_agent(server, tmp_path):
        created = await api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})
        await fail_then_pass(api, created.json()["first_pipeline"])
        flag.unlink()
        commit_files(repo, {"fixed.txt": "yes\n"}, "fix test_fixed")
        second = (await api.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"})).json()
        last_flaky_wf, last_flaky_job = await fail_then_pass(api, second)

        flaky = (await api.get("/api/v2/insights/gh/acme/app/flaky-tests")).json()
        assert flaky["total_flaky_tests"] == 1  # test_query never passed; test_fixed passed on another commit
        (item,) = flaky["flaky_tests"]
        assert item["test_name"] == "test_fetch" and item["classname"] == "app.Net"
        assert item["times_flaked"] == 2  # once on each commit
        assert item["file"] == "tests/test_net.py" and item["source"] == "pytest" and item["job_name"] == "test"
        assert (item["job_number"], item["pipeline_number"]) == (last_flaky_job, second["number"])
        assert (item["workflow_id"], item["workflow_name"]) == (last_flaky_wf["id"], "main")
        assert item["workflow_created_at"] == last_flaky_wf["created_at"]
        assert isinstance(item["time_wasted"], int) and item["time_wasted"] >= 0

        metrics = (await api.get("/api/v2/insights/gh/acme/app/workflows/main/test-metrics")).json()
        assert metrics["total_test_runs"] == 16 and metrics["average_test_count"] == 4
        assert [r["pipeline_number"] for r in metrics["test_runs"]] == [1, 1, 2, 2]
        assert [r["test_counts"]["failure"] for r in metrics["test_runs"]] == [3, 2, 2, 1]
        assert metrics["test_runs"][3]["success_rate"] == 0.75
        assert [(t["test_name"], t["failed_runs"], t["total_runs"], t["flaky"]) for t in metrics[
            "most_failed_tests"]] == [("test_query", 4, 4, False), ("test_fetch", 2, 4, True),
                                      ("test_fixed", 2, 4, False)]  # fmt: skip
        assert [(t["test_name"], t["p95_duration"]) for t in metrics["slowest_tests"]] == [
            ("test_slow", 4.0), ("test_fetch", 1.5), ("test_query", 0.5), ("test_fixed", 0.1)]  # fmt: skip
        assert metrics["most_failed_tests_extra"] == 0 and metrics["slowest_tests_extra"] == 0
        on_other = await api.get("/api/v2/insights/gh/acme/app/workflows/main/test-metrics", params={"branch": "x"})
        assert on_other.json()["test_runs"] == [] and on_other.json()["most_failed_tests"] == []
        everywhere = await api.get(
            "/api/v2/insights/gh/acme/app/workflows/main/test-metrics", params={"all-branches": "true"}
        )
        assert everywhere.json()["total_test_runs"] == 16
        missing = await api.get("/api/v2/insights/gh/acme/nope/flaky-tests")
        assert (missing.status_code, missing.json()) == (404, {"message": "Project not found"})

        # pycircleci, as its users call it (github/... slugs, Basic and Circle-Token auth together).
        client = Api(token=server.admin_token, url=server.url + "/api")
        assert await asyncio.to_thread(client.get_flaky_tests, "acme", "app") == flaky
        by_client = await asyncio.to_thread(client.get_project_workflow_test_metrics, "acme", "app", "main")
        assert by_client == metrics
