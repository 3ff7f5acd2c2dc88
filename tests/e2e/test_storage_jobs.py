"""What jobs keep, end to end: `rondo server` with its built-in agent, machine and docker jobs, object
storage in the data dir and in an S3 bucket (moto on loopback).

A cache saved in one pipeline is restored by prefix in the next; a workspace written by one job is
read by two downstream jobs; artifacts are listed and downloaded with CircleCI's content types; JUnit
results are listed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from rondo.objects import S3Settings
from tests.conftest import commit_files, make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_docker_jobs import IMAGE_MAP
from tests.e2e.test_push_runs_jobs import FINAL, jobs_by_name, step_output, workflows
from tests.s3_server import s3_environment

pytestmark = pytest.mark.e2e

JUNIT = """<testsuites><testsuite name="unit">
  <testcase classname="app.Parser" name="parses" file="tests/test_parser.py" time="0.5"/>
  <testcase classname="app.Parser" name="refuses" file="tests/test_parser.py" time="0.25">
    <failure message="boom">Traceback</failure>
  </testcase>
</testsuite></testsuites>
"""

CONFIG = """\
version: 2.1
executors:
  here: {EXECUTOR}
jobs:
  build:
    executor: here
    steps:
      - checkout
      - restore_cache: {keys: ['deps-{{ .Branch }}-', 'deps-']}
      - run:
          name: Build
          command: |
            mkdir -p deps dist report/unit
            cat lock.txt > deps/installed.txt
            echo "app $(cat lock.txt)" > dist/app.txt
            printf '<html><script>alert(1)</script></html>' > report/index.html
            printf '{"coverage": 93}' > report/coverage.json
            cp junit.xml report/unit/results.xml
      - save_cache: {key: 'deps-{{ .Branch }}-{{ checksum "lock.txt" }}', paths: [deps]}
      - persist_to_workspace: {root: ., paths: [dist]}
      - store_artifacts: {path: report, destination: report}
      - store_test_results: {path: report}
  read-a:
    executor: here
    steps:
      - attach_workspace: {at: /tmp/ws}
      - run: {name: Read, command: cat /tmp/ws/dist/app.txt}
  read-b:
    executor: here
    steps:
      - attach_workspace: {at: ~/elsewhere}
      - run: {name: Read, command: cat ~/elsewhere/dist/app.txt}
      - restore_cache: {key: deps-}
      - run: {name: Cached, command: cat deps/installed.txt}
workflows:
  main:
    jobs:
      - build
      - read-a: {requires: [build]}
      - read-b: {requires: [build]}
"""

EXECUTORS = {"machine": "{machine: true}", "docker": "{docker: [{image: cimg/base:stable}]}"}


@pytest.fixture(params=["local", "s3"])
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "local":
        return {}
    settings: S3Settings = request.getfixturevalue("s3_settings")
    return s3_environment(settings)


@pytest.fixture(params=["machine", "docker"])
def executor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(tmp_path: Path, backend_env: dict[str, str], executor: str) -> Iterator[RondoServer]:
    env = {**backend_env, "RONDO_REF_POLL_INTERVAL_S": "3600"}
    if executor == "docker":
        env |= {"RONDO_IMAGE_MAP": IMAGE_MAP, "RONDO_AGENT_DOCKER": "on"}
    srv = RondoServer(tmp_path / "data", "", **env).start()
    try:
        yield srv
    finally:
        srv.stop()


def finished(api: httpx2.Client, pipeline_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        items = workflows(api, pipeline_id)
        return items[0] if items and items[0]["status"] in FINAL else None

    return dict(wait_for(done, timeout=180, what="the workflow to finish"))


def test_caches_workspaces_artifacts_and_test_results(server: RondoServer, tmp_path: Path, executor: str) -> None:
    config = CONFIG.replace("{EXECUTOR}", EXECUTORS[executor])
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": config, "lock.txt": "v1\n", "junit.xml": JUNIT})
    with server.client() as api:
        first = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}).json()["first_pipeline"]
        wf = finished(api, first["id"])
        jobs = jobs_by_name(api, wf["id"])
        build = jobs["build"]["job_number"]
        out = step_output(api, build)
        assert wf["status"] == "success", (out, server.log()[-3000:])
        assert "No cache is found for key: deps-main-" in out["Restoring Cache"]
        assert "Stored Cache to deps-main-" in out["Saving Cache"]
        for reader in ("read-a", "read-b"):
            assert "app v1" in step_output(api, jobs[reader]["job_number"])["Read"]
        assert "v1" in step_output(api, jobs["read-b"]["job_number"])["Cached"]

        artifacts = api.get(f"/api/v2/project/gh/acme/app/{build}/artifacts").json()["items"]
        by_path = {a["path"]: a["url"] for a in artifacts}
        assert set(by_path) == {"report/index.html", "report/coverage.json", "report/unit/results.xml"}
        with httpx2.Client(follow_redirects=True, timeout=30) as browser:
            page = browser.get(by_path["report/index.html"], params={"circle-token": server.token})
            assert page.status_code == 200 and "<script>" in page.text
            assert page.headers["content-type"].startswith("text/plain")  # never rendered as HTML
            coverage = browser.get(by_path["report/coverage.json"], headers={"Circle-Token": server.token})
            assert coverage.json() == {"coverage": 93}
            assert coverage.headers["content-type"].startswith("application/json")
        tests = api.get(f"/api/v2/project/gh/acme/app/{build}/tests").json()["items"]
        assert sorted((t["name"], t["result"]) for t in tests) == [("parses", "success"), ("refuses", "failure")]
        v1 = api.get(f"/api/v1.1/project/gh/acme/app/{build}/tests").json()
        assert {t["classname"] for t in v1["tests"]} == {"app.Parser"}

        # The next pipeline restores that cache by prefix and saves its own under the new checksum.
        commit_files(repo, {"lock.txt": "v2\n"}, "bump deps")
        second = api.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"}).json()
        wf2 = finished(api, second["id"])
        jobs2 = jobs_by_name(api, wf2["id"])
        out2 = step_output(api, jobs2["build"]["job_number"])
        assert wf2["status"] == "success", out2
        assert f"Found a cache from build {build} at deps-main-" in out2["Restoring Cache"]
        assert "v2" in step_output(api, jobs2["read-b"]["job_number"])["Cached"]  # the newest match
