"""Dynamic config: a `setup: true` pipeline's job continues the same pipeline with a generated config.

The setup job does what the continuation orb does: POST /api/v2/pipeline/continue with
$CIRCLE_CONTINUATION_KEY, the configuration text and parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.conftest import make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import FINAL, jobs_by_name, server, step_output, workflows  # noqa: F401

pytestmark = pytest.mark.e2e

SETUP = """\
version: 2.1
setup: true
jobs:
  generate:
    machine: true
    steps:
      - checkout
      - run:
          name: Continue the pipeline
          command: |
            python3 -c '
            import json, os, urllib.parse
            body = {"continuation-key": os.environ["CIRCLE_CONTINUATION_KEY"],
                    "configuration": open(".circleci/continue.yml").read(),
                    "parameters": {"greeting": "hi from setup"}}
            json.dump(body, open("/tmp/body-" + os.environ["CIRCLE_WORKFLOW_ID"], "w"))
            url = urllib.parse.urlsplit(os.environ["CIRCLE_BUILD_URL"])
            print(f"{url.scheme}://{url.netloc}")' > server-url
            curl -fsS -X POST -H 'Content-Type: application/json' \\
              --data @"/tmp/body-$CIRCLE_WORKFLOW_ID" "$(cat server-url)/api/v2/pipeline/continue"
workflows:
  setup:
    jobs: [generate]
"""

CONTINUE = """\
version: 2.1
parameters:
  greeting: {type: string, default: nobody}
jobs:
  hello:
    machine: true
    steps:
      - run: echo "<< pipeline.parameters.greeting >> in pipeline << pipeline.number >>"
workflows:
  continued:
    jobs: [hello]
"""


def all_final(api: httpx2.Client, pipeline_id: str, count: int) -> list[dict[str, Any]] | None:
    items = workflows(api, pipeline_id)
    return items if len(items) == count and all(w["status"] in FINAL for w in items) else None


def test_setup_job_continues_the_pipeline_once(server: RondoServer, tmp_path: Path) -> None:  # noqa: F811
    repo = make_repo(tmp_path / "dyn", {".circleci/config.yml": SETUP, ".circleci/continue.yml": CONTINUE})
    with server.client() as api:
        resp = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})
        assert resp.status_code == 201, resp.text
        pipeline = resp.json()["first_pipeline"]
        assert pipeline["state"] == "setup"
        done = wait_for(lambda: all_final(api, pipeline["id"], 2), timeout=90, what="setup and continued workflows")
        by_name = {w["name"]: w for w in done}
        assert {n: w["status"] for n, w in by_name.items()} == {"setup": "success", "continued": "success"}
        hello = jobs_by_name(api, by_name["continued"]["id"])["hello"]
        output = "".join(step_output(api, hello["job_number"]).values())
        assert f"hi from setup in pipeline {pipeline['number']}" in output
        assert api.get(f"/api/v2/pipeline/{pipeline['id']}").json()["state"] == "created"

        # The key works once; a forged key never.
        generate = jobs_by_name(api, by_name["setup"]["id"])["generate"]
        assert "Continue the pipeline" in step_output(api, generate["job_number"])
        forged = httpx2.post(
            server.url + "/api/v2/pipeline/continue",
            json={"continuation-key": "rondocont_" + "0" * 32 + "_x", "configuration": CONTINUE},
        )
        assert forged.status_code == 401 and forged.json() == {"message": "Invalid continuation key."}


def test_a_continuation_with_a_bad_config_errors_the_pipeline(server: RondoServer, tmp_path: Path) -> None:  # noqa: F811
    bad = CONTINUE.replace("<< pipeline.parameters.greeting >>", "<< pipeline.parameters.missing >>")
    repo = make_repo(tmp_path / "dyn2", {".circleci/config.yml": SETUP, ".circleci/continue.yml": bad})
    with server.client() as api:
        pipeline = api.post("/api/v2/project/gh/acme/dyn2", json={"vcs_url": str(repo)}).json()["first_pipeline"]

        def errored() -> dict[str, Any] | None:
            body = api.get(f"/api/v2/pipeline/{pipeline['id']}").json()
            return body if body["state"] == "errored" else None

        body = wait_for(errored, timeout=90, what="the pipeline to error")
        assert any("pipeline.parameters.missing" in e["message"] for e in body["errors"])
