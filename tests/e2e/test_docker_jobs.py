"""Docker jobs on a real Docker engine: primary + service container on localhost, limits, cleanup, cancel.

Images are the local ones `scripts/build-images` makes (`make test` runs it); `RONDO_IMAGE_MAP` maps
the config's `cimg/base` and `redis` names onto them, as images/README.md describes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_repo
from tests.e2e.server_process import RondoServer, wait_for
from tests.e2e.test_push_runs_jobs import FINAL, jobs_by_name, step_output, workflows

pytestmark = pytest.mark.e2e

IMAGE_MAP = "cimg/*=rondo/base:bookworm,redis*=rondo/redis:bookworm"

CONFIG = """\
version: 2.1
jobs:
  build:
    docker:
      - image: cimg/base:stable
        environment: {ONLY_FOR_THE_ENTRYPOINT: "1"}
      - image: redis:7
    resource_class: small
    environment:
      GREETING: hello from a container
    steps:
      - checkout
      - run: cat README.md && echo "$GREETING" && test -z "$ONLY_FOR_THE_ENTRYPOINT"
      - run:
          name: The service answers on localhost
          command: |
            for i in $(seq 1 50); do
              r=$( (exec 3<>/dev/tcp/127.0.0.1/6379; printf 'PING\\r\\n' >&3; head -c 7 <&3) 2>/dev/null) || true
              case "$r" in +PONG*) echo "redis says $r"; exit 0;; esac
              sleep 0.2
            done
            exit 1
      - run:
          name: Limits of the small resource class
          command: |
            cg=/sys/fs/cgroup
            echo "cpu quota $(cat $cg/cpu/cpu.cfs_quota_us) memory $(cat $cg/memory/memory.limit_in_bytes)"
      - run:
          name: The in-job circleci command
          command: circleci tests glob "*.md" | circleci tests split && circleci-agent step halt
      - run: {name: Never runs after a halt, command: exit 1}
  slow:
    docker: [{image: cimg/base:stable}]
    steps:
      - run: {name: Sleeps, command: "echo started; sleep 120"}
workflows:
  main:
    jobs: [build]
  long:
    jobs: [slow]
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RondoServer]:
    srv = RondoServer(tmp_path / "data", "", RONDO_IMAGE_MAP=IMAGE_MAP, RONDO_AGENT_DOCKER="on").start()
    try:
        yield srv
    finally:
        srv.stop()


def containers_of_rondo() -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=rondo.task"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_docker_job_with_a_service_container(server: RondoServer, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": CONFIG, "README.md": "# app in docker\n"})
    with server.client() as api:
        pipeline = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}).json()["first_pipeline"]

        def workflow(name: str) -> dict[str, Any] | None:
            return next((w for w in workflows(api, pipeline["id"]) if w["name"] == name), None)

        def main_done() -> dict[str, Any] | None:
            wf = workflow("main")
            return wf if wf and wf["status"] in FINAL else None

        main = wait_for(main_done, timeout=120, what="the docker workflow")
        build = jobs_by_name(api, main["id"])["build"]
        output = step_output(api, build["job_number"])
        assert main["status"] == "success", output
        assert "# app in docker" in output['cat README.md && echo "$GREETING" && test -z "$ONLY_FOR_THE_ENTRYPOINT"']
        assert "hello from a container" in "".join(output.values())
        assert "redis says +PONG" in output["The service answers on localhost"]
        assert output["The in-job circleci command"].split() == ["README.md"]
        assert "cpu quota 100000 memory 2147483648" in output["Limits of the small resource class"]
        assert "Never runs after a halt" not in output, "step halt ended the job early, successful"
        details = api.get(f"/api/v2/project/gh/acme/app/job/{build['job_number']}").json()
        assert details["executor"] == {"resource_class": "small", "type": "docker"}

        # Cancel reaches the running container within seconds, and nothing is left behind.
        long = wait_for(lambda: workflow("long"), what="the long workflow")

        def sleeping() -> dict[str, Any] | None:
            job = jobs_by_name(api, long["id"])["slow"]
            return job if job["status"] == "running" and "started" in "".join(
                step_output(api, job["job_number"]).values()) else None  # fmt: skip

        wait_for(sleeping, timeout=60, what="the slow job to be running")
        assert api.post(f"/api/v2/workflow/{long['id']}/cancel").status_code == 202

        def canceled() -> dict[str, Any] | None:
            wf = workflow("long")
            return wf if wf and wf["status"] == "canceled" else None

        wait_for(canceled, timeout=20, what="the cancel to reach the container")
        wait_for(lambda: not containers_of_rondo() or None, timeout=20, what="the containers to be removed")


def test_an_image_that_cannot_be_pulled_is_an_infrastructure_failure(server: RondoServer, tmp_path: Path) -> None:
    config = "version: 2.1\njobs:\n  build:\n    docker: [{image: nowhere.invalid/none:1}]\n    steps: [checkout]\n"
    repo = make_repo(tmp_path / "bad", {".circleci/config.yml": config})
    with server.client() as api:
        pipeline = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}).json()["first_pipeline"]

        def done() -> dict[str, Any] | None:
            wfs = workflows(api, pipeline["id"])
            return wfs[0] if wfs and wfs[0]["status"] in FINAL else None

        wf = wait_for(done, timeout=120, what="the job to fail")
        job = jobs_by_name(api, wf["id"])["build"]
        assert job["status"] == "infrastructure_fail"
