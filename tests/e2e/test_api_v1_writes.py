"""v1.1 writes as old clients send them (the `circleci` 1.2.2 and pycircleci libraries).

Follow, trigger a branch, cancel and retry a build.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import FINAL, jobs_by_name, server, workflows  # noqa: F401

pytestmark = pytest.mark.e2e

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps: [{run: "echo on $CIRCLE_BRANCH; sleep ${SLEEP:-0}"}]
workflows:
  main: {jobs: [build]}
"""


def test_follow_trigger_cancel_and_retry(server: RondoServer, tmp_path: Path) -> None:  # noqa: F811
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": CONFIG})
    with server.client() as api:
        refused = api.post("/api/v1.1/project/github/acme/app/follow")
        assert refused.status_code == 400 and "vcs_url" in refused.json()["message"]
        followed = api.post("/api/v1.1/project/github/acme/app/follow", json={"vcs_url": str(repo)})
        assert followed.json() == {"followed": True, "first_build": None}
        again = api.post("/api/v1.1/project/github/acme/app/follow")
        assert again.json()["followed"] is True

        # pycircleci's trigger_build sends explicit nulls to /tree/<branch>, the branch unencoded.
        trig = api.post("/api/v1.1/project/github/acme/app/tree/main", json={"parallel": None, "revision": None,
                                                                             "tag": None})  # fmt: skip
        assert trig.status_code == 201 and trig.json()["body"] == "Build created"
        pipeline_id = trig.json()["pipeline_id"]

        def done() -> dict[str, Any] | None:
            wfs = workflows(api, pipeline_id)
            return wfs[0] if wfs and wfs[0]["status"] in FINAL else None

        wf = wait_for(done, what="the triggered pipeline")
        build = jobs_by_name(api, wf["id"])["build"]
        number = build["job_number"]

        retried = api.post(f"/api/v1.1/project/github/acme/app/{number}/retry")
        assert retried.status_code == 200, retried.text
        body = retried.json()
        new_number = body.get("build_num")
        assert new_number and new_number != number and body["retry_of"] == number

        canceled = api.post(f"/api/v1.1/project/github/acme/app/{number}/cancel")
        assert canceled.status_code == 200 and canceled.json()["build_num"] == number
        missing = api.post("/api/v1.1/project/github/acme/app/9999/cancel")
        assert (missing.status_code, missing.json()) == (404, {"message": "Build not found"})


def test_the_old_circleci_library_reads_and_triggers(server: RondoServer, tmp_path: Path) -> None:  # noqa: F811
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": CONFIG})
    with server.client() as api:
        api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}).raise_for_status()
    script = f"""
from circleci.api import Api
c = Api({server.token!r}, url={server.url + "/api/v1.1"!r})
assert c.get_user_info()["login"] == "admin"
assert any(p["reponame"] == "app" for p in c.get_projects())
assert isinstance(c.get_project_build_summary("acme", "app"), list)
print(c.trigger_build("acme", "app", branch="main")["body"])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Build created" in done.stdout
