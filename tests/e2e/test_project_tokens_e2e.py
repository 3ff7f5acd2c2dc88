"""Project API tokens through pycircleci 0.7.0 against `rondo server` with its built-in agent.

pycircleci has no calls of its own for managing project tokens, so a user makes them with its generic
`_request` (the v1.1 `/project/:slug/token` endpoints, with a personal token); the project tokens then
drive pycircleci's ordinary v1.1 calls, as scripts that keep one in CIRCLE_TOKEN do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from pycircleci.api import Api

from tests.conftest import make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import finished_workflow, jobs_by_name, server, workflows  # noqa: F401

pytestmark = pytest.mark.e2e

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: mkdir -p out reports/unit && echo built > out/app.txt
      - run: echo '<testsuite><testcase classname="app.T" name="test_ok" time="0.3"/></testsuite>' > reports/unit/r.xml
      - store_artifacts: {path: out}
      - store_test_results: {path: reports}
workflows:
  main: {jobs: [build]}
"""


def status_code(call: Any, *args: Any) -> int:
    with pytest.raises(requests.HTTPError) as refused:
        call(*args)
    assert refused.value.response is not None
    return int(refused.value.response.status_code)


def test_pycircleci_with_project_tokens(server: RondoServer, tmp_path: Path) -> None:  # noqa: F811
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": CONFIG})
    with server.client() as api:
        first = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}).json()["first_pipeline"]
        wf = finished_workflow(api, first["id"])
        assert wf["status"] == "success"
        number = jobs_by_name(api, wf["id"])["build"]["job_number"]

    personal = Api(token=server.token, url=server.url + "/api")
    made = {
        scope: personal._request("POST", "project/github/acme/app/token", data={"scope": scope, "label": scope})
        for scope in ("status", "view-builds", "all")
    }
    listed = personal._request("GET", "project/github/acme/app/token")
    assert {t["scope"] for t in listed} == set(made) and all(t["token"] is None for t in listed)

    status = Api(token=made["status"]["token"], url=server.url + "/api")
    assert status.get_project_build_summary("acme", "app")[0]["build_num"] == number
    assert status_code(status.get_build_info, "acme", "app", number) == 403
    assert status_code(status.get_user_info) == 401

    view = Api(token=made["view-builds"]["token"], url=server.url + "/api")
    assert view.get_build_info("acme", "app", number)["status"] == "success"
    (artifact,) = view.get_artifacts("acme", "app", number)
    saved = Path(view.download_artifact(artifact["url"], destdir=str(tmp_path)))
    assert saved.read_text() == "built\n"
    assert view.get_test_metadata("acme", "app", number)["tests"][0]["name"] == "test_ok"
    assert status_code(view.trigger_build, "acme", "app") == 403

    admin = Api(token=made["all"]["token"], url=server.url + "/api")
    triggered = admin.trigger_build("acme", "app", branch="main")
    assert triggered["body"] == "Build created"
    with server.client() as api:
        assert finished_workflow(api, triggered["pipeline_id"])["status"] == "success"
        pipeline = api.get(f"/api/v2/pipeline/{triggered['pipeline_id']}").json()
        assert pipeline["trigger"]["actor"]["login"] == "project-token:all"
    retried = admin.retry_build("acme", "app", number)
    assert retried["retry_of"] == number
    assert admin.cancel_build("acme", "app", number)["build_num"] == number
    assert status_code(admin.get_project_pipelines, "acme", "app") == 401  # API v2 takes personal tokens only

    personal._request("DELETE", f"project/github/acme/app/token/{made['all']['id']}")
    assert status_code(admin.get_project_build_summary, "acme", "app") == 401
    with server.client() as api:
        wait_for(lambda: all(w["status"] != "running" for w in workflows(api, first["id"])), what="the retry")
