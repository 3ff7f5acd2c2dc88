"""Operating agents as an administrator: `rondo agent list|drain|token`, and a drained agent claims nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import FINAL, jobs_by_name, rondo_cli, server, workflows  # noqa: F401

pytestmark = pytest.mark.e2e

CONFIG = "version: 2.1\njobs:\n  build:\n    machine: true\n    steps: [{run: echo built}]\n"


def test_list_drain_and_tokens(server: RondoServer, tmp_path: Path) -> None:  # noqa: F811
    listed = wait_for(lambda: (r := rondo_cli(server, "agent", "list")).returncode == 0 and "built-in" in r.stdout
                      and r.stdout, what="the built-in agent in the list")  # fmt: skip
    line = next(x for x in listed.splitlines() if "built-in" in x)
    assert " ready " in line and " false " in line and "medium" in line

    drained = rondo_cli(server, "agent", "drain", "built-in")
    assert drained.returncode == 0 and "is draining" in drained.stdout, drained.stderr
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": CONFIG})
    with server.client() as api:
        pipeline = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}).json()["first_pipeline"]
        (wf,) = workflows(api, pipeline["id"])
        build = jobs_by_name(api, wf["id"])["build"]
        details = api.get(f"/api/v2/project/gh/acme/app/job/{build['job_number']}").json()
        assert details["status"] == "queued"
        assert "draining" in details["messages"][0]["message"]

        assert rondo_cli(server, "agent", "drain", "built-in", "--undo").returncode == 0

        def done() -> dict[str, Any] | None:
            (w,) = workflows(api, pipeline["id"])
            return w if w["status"] in FINAL else None

        assert wait_for(done, what="the job to run once the agent is back")["status"] == "success"

    token = rondo_cli(server, "agent", "token", "build-box-1")
    assert token.returncode == 0 and token.stdout.strip().startswith("rondoagt_")
    missing = rondo_cli(server, "agent", "drain", "no-such-agent")
    assert missing.returncode != 0 and "no agent is called no-such-agent" in missing.stderr
