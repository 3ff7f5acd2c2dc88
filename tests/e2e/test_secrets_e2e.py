"""Secrets end to end: `rondo server` with its built-in agent, variables set through pycircleci 0.7.0.

A job echoes a project variable and a context variable (one of them split across two output chunks):
the output shows them masked while the job really had them. A job using a restricted context is
`unauthorized` until its user joins the group. `rondo keys rotate` runs beside the live server. And
no value appears in clear in the database, the data dir's files (objects included), the server's log,
the API's answers or the job output.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pycircleci.api import Api

from tests.conftest import commit_files, make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import finished_workflow, jobs_by_name, rondo_cli, server, step_output  # noqa: F401
from tests.plaintext import database_text, places_holding

pytestmark = pytest.mark.e2e

PROJECT_TOKEN = "prj-tok-8f3a91c2e7"
CTX_TOKEN = "ctx-tok-51d0b6aa94"
PROD_KEY = "prod-key-c0ffee77"
THROWAWAY = "throwaway-value-9911"
MASK = "********"

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run:
          name: Use the secrets
          command: |
            echo "project: $PROJECT_TOKEN"
            echo "context: $CTX_TOKEN"
            printf 'split: %s' "${CTX_TOKEN:0:7}"; sleep 1.2; printf '%s\\n' "${CTX_TOKEN:7}"
            echo "sha: $(printf %s "$PROJECT_TOKEN$CTX_TOKEN" | sha256sum | cut -c1-16)"
  deploy:
    machine: true
    steps:
      - run:
          name: Deploy
          command: echo "deploying with $PROD_KEY"
workflows:
  main:
    jobs:
      - build:
          context: org-global
      - deploy:
          context: [org-global, prod]
          requires: [build]
"""


def sha(*values: str) -> str:
    return hashlib.sha256("".join(values).encode()).hexdigest()[:16]


def pipeline_numbered(api: httpx2.Client, number: int) -> dict[str, Any] | None:
    items = api.get("/api/v2/project/gh/acme/app/pipeline").json()["items"]
    return next((p for p in items if p["number"] == number), None)


def test_secrets_reach_jobs_masked_and_are_never_in_clear(server: RondoServer, tmp_path: Path) -> None:  # noqa: F811
    answers: list[str] = []  # every API answer that might show a value
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    added = rondo_cli(server, "project", "add", str(repo), "--slug", "gh/acme/app")
    assert added.returncode == 0, added.stderr
    c = Api(token=server.token, url=server.url + "/api")

    # Project variables through v1.1 (pycircleci), read back masked through v1.1 and v2.
    c.add_envvar("acme", "app", "PROJECT_TOKEN", PROJECT_TOKEN)
    listed = c.list_envvars("acme", "app")
    answers.append(repr(listed))
    assert listed == [{"name": "PROJECT_TOKEN", "value": "xxxx" + PROJECT_TOKEN[-4:]}]
    assert c.get_envvar("acme", "app", "PROJECT_TOKEN")["value"] == "xxxx" + PROJECT_TOKEN[-4:]

    # Contexts and their variables through v2 (pycircleci); values never come back.
    ctx = c.add_context("org-global", username="acme")
    c.add_context_envvar(ctx["id"], "CTX_TOKEN", CTX_TOKEN)
    assert [x["name"] for x in c.get_contexts(username="acme")] == ["org-global"]
    assert c.get_context(ctx["id"])["name"] == "org-global"
    variables = c.get_context_envvars(ctx["id"])
    answers.append(repr(variables))
    assert [v["variable"] for v in variables] == ["CTX_TOKEN"]
    prod = c.add_context("prod", username="acme")
    c.add_context_envvar(prod["id"], "PROD_KEY", PROD_KEY)
    spare = c.add_context("spare", username="acme")
    c.add_context_envvar(spare["id"], "SPARE", THROWAWAY)
    c.delete_context_envvar(spare["id"], "SPARE")
    c.delete_context(spare["id"])
    assert [x["name"] for x in c.get_contexts(username="acme")] == ["org-global", "prod"]

    with server.client() as api:
        v2 = api.get("/api/v2/project/gh/acme/app/envvar").json()
        answers.append(repr(v2))
        assert [(v["name"], v["value"]) for v in v2["items"]] == [("PROJECT_TOKEN", "xxxx" + PROJECT_TOKEN[-4:])]
        org_id = api.get("/api/v2/project/gh/acme/app").json()["organization_id"]
        group = api.post(f"/api/v2/organizations/{org_id}/groups", json={"name": "deployers"}).json()
        restricted = api.post(
            f"/api/v2/context/{prod['id']}/restrictions",
            json={"restriction_type": "group", "restriction_value": group["id"]},
        )
        assert restricted.status_code == 201, restricted.text

        # A commit with the config: the build gets its variables, the deploy may not use `prod`.
        commit_files(repo, {".circleci/config.yml": CONFIG}, "add config")
        first = wait_for(lambda: pipeline_numbered(api, 2), timeout=30, what="the pipeline of the config commit")
        wf = finished_workflow(api, first["id"])
        jobs = jobs_by_name(api, wf["id"])
        assert (wf["status"], jobs["build"]["status"], jobs["deploy"]["status"]) == (
            "unauthorized",
            "success",
            "unauthorized",
        )
        out = step_output(api, jobs["build"]["job_number"])["Use the secrets"]
        answers.append(out)
        assert f"project: {MASK}\n" in out and f"context: {MASK}\n" in out and f"split: {MASK}\n" in out
        assert f"sha: {sha(PROJECT_TOKEN, CTX_TOKEN)}" in out  # the job had the real values
        details = api.get(f"/api/v2/project/gh/acme/app/job/{jobs['deploy']['job_number']}").json()
        assert "restricted to security groups" in details["messages"][0]["message"]

        # The user joins the group; rerunning from failed runs the deploy with the prod key.
        joined = api.put(f"/api/v2/organizations/{org_id}/groups/{group['id']}/members/admin")
        assert joined.status_code == 200, joined.text
        rerun = c.rerun_workflow(wf["id"], from_failed=True)
        wf2 = finished_workflow_by_id(api, rerun["workflow_id"])
        assert wf2["status"] == "success"
        deploy = jobs_by_name(api, wf2["id"])["deploy"]
        deployed = step_output(api, deploy["job_number"])["Deploy"]
        answers.append(deployed)
        assert deployed.strip() == f"deploying with {MASK}"

        # Master key rotation beside the live server: values still reach the next job.
        rotated = subprocess.run(
            [sys.executable, "-m", "rondo", "keys", "rotate"],
            env={**server.env}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert rotated.returncode == 0, rotated.stderr
        assert "re-wrapped 1 data key(s) in project_env_vars" in rotated.stdout
        assert "re-wrapped 2 data key(s) in context_env_vars" in rotated.stdout
        again = c.trigger_pipeline("acme", "app", branch="main")
        wf3 = finished_workflow(api, again["id"])
        assert wf3["status"] == "success"
        out3 = step_output(api, jobs_by_name(api, wf3["id"])["build"]["job_number"])["Use the secrets"]
        assert f"sha: {sha(PROJECT_TOKEN, CTX_TOKEN)}" in out3 and f"context: {MASK}" in out3

        for path in ("/api/v2/admin/audit-log", f"/api/v1.1/project/github/acme/app/{deploy['job_number']}"):
            answers.append(api.get(path).text)

    c.delete_envvar("acme", "app", "PROJECT_TOKEN")
    assert c.list_envvars("acme", "app") == []
    server.stop()  # everything on disk, the log complete

    # Nowhere in clear: API answers and job output, the database, the data dir's files, the server log.
    values = (PROJECT_TOKEN, CTX_TOKEN, PROD_KEY, THROWAWAY)
    for value in values:
        assert not [a for a in answers if value in a], value
    db_url = server.env["RONDO_DATABASE_URL"] or f"sqlite+aiosqlite:///{server.data_dir / 'rondo.db'}"
    stored = database_text(db_url)
    for value in values:
        assert value not in stored, value
        assert places_holding(value, server.data_dir) == [], value
        assert value not in server.log(), value


def finished_workflow_by_id(api: httpx2.Client, workflow_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = api.get(f"/api/v2/workflow/{workflow_id}").json()
        return body if body["status"] in ("success", "failed", "error", "canceled", "unauthorized") else None

    return dict(wait_for(done, timeout=90, what=f"workflow {workflow_id} to finish"))
