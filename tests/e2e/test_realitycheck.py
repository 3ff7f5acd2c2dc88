"""CircleCI's realitycheck, the installation check of CircleCI Server, run unchanged on Rondo.

The config is `../shared/corpus/realitycheck/config.yml`. The project is set up as its README says:
`CIRCLE_TOKEN`, `CIRCLE_HOSTNAME` and `CIRCLE_CLOUD_PROVIDER` as project variables, and the contexts
`org-global` and `individual-local`. The only development aids are those of images/README.md: config
image names are mapped onto the local images, and `alpine:latest` is the local busybox image, both in
remote Docker engines and on the agent's own engine (for the machine jobs' `docker build`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rondo.domain.resource_classes import fitting
from tests.conftest import commit_files, make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import FINAL, jobs_by_name, step_output, workflows

pytestmark = pytest.mark.e2e

SHARED = Path(__file__).resolve().parents[3] / "shared"
REALITYCHECK = SHARED / "corpus" / "realitycheck" / "config.yml"
IMAGE_MAP = "cimg/*=rondo/base:bookworm,python*=rondo/base:bookworm,alpine*=rondo/base:bookworm," \
    "docker:*=rondo/docker-cli:bookworm"  # fmt: skip


@pytest.fixture
def server(tmp_path: Path, remote_docker_env: dict[str, str]) -> Iterator[RondoServer]:
    # The machine jobs build FROM alpine:latest on the agent's own engine: the local busybox stands in.
    if subprocess.run(["docker", "image", "inspect", "alpine:latest"], capture_output=True).returncode != 0:
        subprocess.run(["docker", "tag", "rondo/busybox:bookworm", "alpine:latest"], check=True)
    srv = RondoServer(
        tmp_path / "data", "",
        RONDO_IMAGE_MAP=IMAGE_MAP,
        RONDO_AGENT_DOCKER="on",
        RONDO_DOCKER_NETWORK="host",  # jobs call the API at CIRCLE_HOSTNAME, which listens on loopback
        RONDO_BUILTIN_AGENT_TASKS="3",
        **remote_docker_env,
    ).start()  # fmt: skip
    try:
        yield srv
    finally:
        srv.stop()


def by_workflow(api: Any, pipeline_id: str) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in workflows(api, pipeline_id)}


def test_realitycheck_passes(server: RondoServer, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "realitycheck", {"README.md": "# realitycheck\n"})
    with server.client() as api:
        created = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)})
        assert created.status_code in (200, 201), created.text
        slug = "gh/acme/app"
        for name, value in (("CIRCLE_TOKEN", server.token), ("CIRCLE_HOSTNAME", server.url),
                            ("CIRCLE_CLOUD_PROVIDER", "other")):  # fmt: skip
            resp = api.post(f"/api/v2/project/{slug}/envvar", json={"name": name, "value": value})
            assert resp.status_code == 201, resp.text
        for context, variable in (("org-global", "CONTEXT_END_TO_END_TEST_VAR"),
                                  ("individual-local", "MULTI_CONTEXT_END_TO_END_VAR")):  # fmt: skip
            owner = {"slug": "gh/acme", "type": "organization"}
            ctx = api.post("/api/v2/context", json={"name": context, "owner": owner})
            assert ctx.status_code == 200, ctx.text
            put = api.put(f"/api/v2/context/{ctx.json()['id']}/environment-variable/{variable}", json={"value": "1"})
            assert put.status_code == 200, put.text

        commit_files(repo, {".circleci/config.yml": REALITYCHECK.read_text()}, "realitycheck")
        triggered = api.post(f"/api/v2/project/{slug}/pipeline", json={"branch": "main"})
        assert triggered.status_code == 201, triggered.text
        pipeline_id = triggered.json()["id"]

        # The 2-CPU machines this runs on hold small and medium; bigger classes stay queued, saying why.
        runnable = set(fitting(float(os.cpu_count() or 1), 1 << 40))

        def settled() -> dict[str, dict[str, Any]] | None:
            wfs = by_workflow(api, pipeline_id)
            if len(wfs) < 7:
                return None
            for name, wf in wfs.items():
                if name == "docker_resource_class_jobs":
                    jobs = jobs_by_name(api, wf["id"]).values()
                    if any(j["status"] not in FINAL and j["status"] != "queued" for j in jobs):
                        return None
                elif wf["status"] not in FINAL:
                    return None
            return wfs

        wfs = wait_for(settled, timeout=420, interval=1.0, what="realitycheck's workflows to settle")
        outputs: dict[str, dict[str, str]] = {}
        for wf in wfs.values():
            for name, job in jobs_by_name(api, wf["id"]).items():
                if job.get("job_number"):
                    outputs[f"{wf['name']}/{name}"] = step_output(api, job["job_number"])

        # Everything a Rondo installation runs passes.
        for name in ("vm_jobs", "feature_jobs", "other_jobs"):
            assert wfs[name]["status"] == "success", (name, {k: v for k, v in outputs.items() if k.startswith(name)})
        # Windows is not enabled, and this is neither AWS nor GCP: the check jobs cancel those workflows.
        for name in ("windows_resource_class_jobs", "aws_jobs", "gcp_jobs"):
            jobs = {k: (j["status"], outputs.get(f"{name}/{k}")) for k, j in jobs_by_name(api, wfs[name]["id"]).items()}
            assert wfs[name]["status"] == "canceled", (name, repr(jobs)[:3000])
        resource_jobs = jobs_by_name(api, wfs["docker_resource_class_jobs"]["id"])
        for name, job in resource_jobs.items():
            resource_class = name.split("-")[-1]
            if resource_class in runnable:
                assert job["status"] == "success", (name, outputs.get(f"docker_resource_class_jobs/{name}"))
            else:
                assert job["status"] == "queued", (name, job)

        vm = {k.split("/")[1]: v for k, v in outputs.items() if k.startswith("vm_jobs/")}
        assert "hello" in vm["remote_docker"]["Build a really basic docker image"]
        assert "Remote Docker engine created" in vm["docker_layer_caching"]["Setup a remote Docker engine"]
        assert "Done sleeping." in "".join(vm["machine"].values())
        features = {k.split("/")[1]: v for k, v in outputs.items() if k.startswith("feature_jobs/")}
        assert "Yay, value matches" in "".join(features["read_workspace"].values())
        assert "The cache was populated" in "".join(features["save_and_restore_cache"].values())
        api.post(f"/api/v2/workflow/{wfs['docker_resource_class_jobs']['id']}/cancel")
