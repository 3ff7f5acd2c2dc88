"""A commit to a followed git repository runs its workflow end to end: the walking skeleton's promise.

Runs the product as a user does (`rondo server` with its built-in agent, `rondo project add`, git
commits, the API with a Circle-Token), on SQLite and on the machine's PostgreSQL.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import commit_files, git, make_repo
from tests.e2e.server_process import RondoServer, wait_for

pytestmark = pytest.mark.e2e

TWO_JOBS = """\
version: 2.1
jobs:
  build:
    machine: true
    environment:
      GREETING: hello from rondo
    steps:
      - checkout
      - run: echo "$GREETING on $CIRCLE_BRANCH at $CIRCLE_SHA1"
      - run:
          name: Write the artifact
          command: |
            test -f README.md
            echo built > build.txt
  test:
    machine: true
    steps:
      - run: echo "testing job $CIRCLE_JOB number $CIRCLE_BUILD_NUM"
workflows:
  main:
    jobs:
      - build
      - test:
          requires: [build]
"""

FINAL = {"success", "failed", "error", "canceled", "not_run", "unauthorized"}


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[RondoServer]:
    db_url = "" if database_url.startswith("sqlite") else database_url
    srv = RondoServer(tmp_path / "data", db_url, RONDO_REF_POLL_INTERVAL_S="0.5").start()
    try:
        yield srv
    finally:
        srv.stop()


def rondo_cli(server: RondoServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RONDO_URL": server.url, "RONDO_TOKEN": server.token}
    return subprocess.run([sys.executable, "-m", "rondo", *args], capture_output=True, text=True, env=env, timeout=60)


def workflows(api: httpx2.Client, pipeline_id: str) -> list[dict[str, Any]]:
    resp = api.get(f"/api/v2/pipeline/{pipeline_id}/workflow")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


def finished_workflow(api: httpx2.Client, pipeline_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        items = workflows(api, pipeline_id)
        return items[0] if items and items[0]["status"] in FINAL else None

    return dict(wait_for(done, timeout=90, what=f"workflow of pipeline {pipeline_id} to finish"))


def jobs_by_name(api: httpx2.Client, workflow_id: str) -> dict[str, dict[str, Any]]:
    resp = api.get(f"/api/v2/workflow/{workflow_id}/job")
    assert resp.status_code == 200, resp.text
    return {j["name"]: j for j in resp.json()["items"]}


def pipeline_numbered(api: httpx2.Client, number: int) -> dict[str, Any] | None:
    resp = api.get("/api/v2/project/gh/acme/app/pipeline")
    assert resp.status_code == 200, resp.text
    return next((p for p in resp.json()["items"] if p["number"] == number), None)


def step_output(api: httpx2.Client, job_number: int) -> dict[str, str]:
    build = api.get(f"/api/v1.1/project/github/acme/app/{job_number}")
    assert build.status_code == 200, build.text
    out = {}
    for step in build.json()["steps"]:
        action = step["actions"][0]
        # output_url is a signed link: it opens without a token, as CircleCI's presigned links do
        resp = httpx2.get(action["output_url"], timeout=30)
        assert resp.status_code == 200, resp.text
        out[step["name"]] = "".join(m["message"] for m in resp.json())
    return out


def test_push_runs_a_two_job_workflow(server: RondoServer, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": TWO_JOBS, "README.md": "# app\n"})
    head = git(repo, "rev-parse", "HEAD")

    # The first start printed and stored the admin token, readable by its owner only.
    assert stat.S_IMODE((server.data_dir / "admin-token").stat().st_mode) == 0o600
    status = httpx2.get(server.url + "/status").json()
    assert status["status"] == "ok"

    added = rondo_cli(server, "project", "add", str(repo), "--slug", "gh/acme/app")
    assert added.returncode == 0, added.stderr
    assert "following gh/acme/app" in added.stdout

    with server.client() as api:
        # Following builds the default branch at once.
        first = wait_for(lambda: pipeline_numbered(api, 1), what="the first pipeline")
        assert first["vcs"]["branch"] == "main" and first["vcs"]["revision"] == head
        assert first["vcs"]["commit"]["subject"] == "initial commit"
        assert first["trigger"]["type"] == "webhook"
        wf = finished_workflow(api, first["id"])
        assert (wf["name"], wf["status"]) == ("main", "success")
        jobs = jobs_by_name(api, wf["id"])
        assert {n: j["status"] for n, j in jobs.items()} == {"build": "success", "test": "success"}
        assert jobs["test"]["dependencies"] == [jobs["build"]["id"]]

        details = api.get(f"/api/v2/project/gh/acme/app/job/{jobs['build']['job_number']}").json()
        assert details["status"] == "success" and details["executor"]["type"] == "machine"
        assert details["pipeline"]["id"] == first["id"]
        assert details["latest_workflow"] == {"id": wf["id"], "name": "main"}

        output = step_output(api, jobs["build"]["job_number"])
        assert f"hello from rondo on main at {head}" in output['echo "$GREETING on $CIRCLE_BRANCH at $CIRCLE_SHA1"']
        assert "Checkout code" in output
        test_out = step_output(api, jobs["test"]["job_number"])
        assert f"testing job test number {jobs['test']['job_number']}" in "".join(test_out.values())

        # A new commit on another branch is noticed by the ref watcher and fails in its first job.
        # (committed on a detached HEAD first, so the watcher never sees the branch at the old commit)
        git(repo, "checkout", "-q", "--detach")
        failing = TWO_JOBS.replace("test -f README.md", "echo about to fail; exit 3")
        sha = commit_files(repo, {".circleci/config.yml": failing}, "break the build")
        git(repo, "checkout", "-q", "-b", "broken")
        second = wait_for(lambda: pipeline_numbered(api, 2), timeout=10, what="a pipeline for the new commit")
        assert second["vcs"]["branch"] == "broken" and second["vcs"]["revision"] == sha
        wf2 = finished_workflow(api, second["id"])
        assert wf2["status"] == "failed"
        jobs2 = jobs_by_name(api, wf2["id"])
        assert jobs2["build"]["status"] == "failed"
        assert jobs2["test"]["status"] == "not_run"
        assert "job_number" not in jobs2["test"]  # a job that never ran never got a number
        failed_out = step_output(api, jobs2["build"]["job_number"])
        assert "about to fail" in failed_out["Write the artifact"]
        raw = api.get(f"/api/private/output/raw/gh/acme/app/{jobs2['build']['job_number']}/output/0/2")
        assert raw.status_code == 200 and "about to fail" in raw.text
        errors = api.get(f"/api/private/output/raw/gh/acme/app/{jobs2['build']['job_number']}/error/0/2")
        assert errors.status_code == 200 and "about to fail" not in errors.text  # one stream: a terminal's

        # Triggering by hand through the API.
        resp = api.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"})
        assert resp.status_code == 201, resp.text
        assert resp.json()["number"] == 3
        assert finished_workflow(api, resp.json()["id"])["status"] == "success"


def test_invalid_config_makes_an_errored_pipeline(server: RondoServer, tmp_path: Path) -> None:
    bad = "version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run:\n          name: no command\n"
    repo = make_repo(tmp_path / "bad", {".circleci/config.yml": bad})
    with server.client() as api:
        resp = api.post("/api/v2/project/gh/acme/bad", json={"vcs_url": str(repo)})
        assert resp.status_code == 201, resp.text
        pipeline = resp.json()["first_pipeline"]
        assert pipeline["state"] == "errored"
        assert pipeline["errors"] and pipeline["errors"][0]["type"] == "config"
        assert ".circleci/config.yml:" in pipeline["errors"][0]["message"]
        assert "command" in pipeline["errors"][0]["message"]
        assert workflows(api, pipeline["id"]) == []


def test_api_rejects_missing_and_bad_tokens(server: RondoServer) -> None:
    missing = httpx2.get(server.url + "/api/v2/me")
    assert (missing.status_code, missing.json()) == (401, {"message": "You must log in first."})
    bad = httpx2.get(server.url + "/api/v2/me", headers={"Circle-Token": "nope"})
    assert (bad.status_code, bad.json()) == (401, {"message": "Invalid token provided."})
    me = httpx2.get(server.url + "/api/v2/me", auth=(server.token, ""))  # HTTP Basic, as pycircleci sends it
    assert me.status_code == 200 and me.json()["login"] == "admin"
    unknown = httpx2.get(server.url + "/api/v2/project/gh/acme/nothing", headers={"Circle-Token": server.token})
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Project not found"})
