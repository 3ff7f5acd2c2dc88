"""`setup_remote_docker` on a real Docker engine: a job builds and runs an image on its own engine.

The job image is the local `rondo/docker-cli` (the base image with the docker CLI); the remote engine
starts empty, and `RONDO_REMOTE_DOCKER_PRELOAD` copies the local `rondo/busybox` into it as
`alpine:latest`, since no registry answers here (images/README.md). The jobs are realitycheck's
`remote_docker` and `docker_layer_caching` jobs with that one name mapped.
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

BUILD = """\
dockerfile=Dockerfile
echo "FROM alpine:latest" > $dockerfile
echo "RUN echo hello" >> $dockerfile
docker build -f $dockerfile --tag throwaway:$CIRCLE_BUILD_NUM .
docker run --rm throwaway:$CIRCLE_BUILD_NUM
"""

CONFIG = f"""\
version: 2.1
jobs:
  remote_docker:
    docker: [{{image: 'docker:25.0-git'}}]
    steps:
      - run: which docker
      - run: docker -v
      - setup_remote_docker
      - run:
          name: Build a really basic docker image
          command: |
{"".join("            " + line + chr(10) for line in BUILD.splitlines())}
      - run: docker version
      - run:
          name: The engine is this job's own, over TLS
          command: echo "$DOCKER_HOST $DOCKER_TLS_VERIFY" && ls "$DOCKER_CERT_PATH" && docker ps -q | wc -l
      - run:
          name: Root in the engine's containers is not root on the agent
          command: |
            if docker run --rm -v /etc:/host-etc alpine:latest touch /host-etc/rondo-was-here; then exit 1; fi
            echo "the agent's /etc is not writable"
  docker_layer_caching:
    docker: [{{image: 'docker:25.0-git'}}]
    steps:
      - setup_remote_docker:
          docker_layer_caching: true
      - run:
          name: Layers kept between jobs
          command: |
            if docker image inspect kept:1 >/dev/null 2>&1; then echo "kept from an earlier job"; exit 0; fi
            printf 'FROM alpine:latest\\nRUN echo layer > /layer\\n' | docker build -q -t kept:1 - && echo "built"
workflows:
  main:
    jobs: [remote_docker, docker_layer_caching]
"""


@pytest.fixture
def server(tmp_path: Path, remote_docker_env: dict[str, str]) -> Iterator[RondoServer]:
    srv = RondoServer(
        tmp_path / "data", "", RONDO_IMAGE_MAP="docker:*=rondo/docker-cli:bookworm", RONDO_AGENT_DOCKER="on",
        **remote_docker_env,
    ).start()  # fmt: skip
    try:
        yield srv
    finally:
        srv.stop()


def run_main(api: Any, pipeline_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        wfs = workflows(api, pipeline_id)
        return wfs[0] if wfs and wfs[0]["status"] in FINAL else None

    return dict(wait_for(done, timeout=240, what="the remote docker workflow"))


def engines_left() -> list[str]:
    out = subprocess.run(["pgrep", "-af", "dockerd .*rondo-remote-docker"], capture_output=True, text=True)
    return out.stdout.splitlines()


def test_remote_docker_builds_and_runs_an_image_and_keeps_layers(
    server: RondoServer, tmp_path: Path, remote_docker_env: dict[str, str]
) -> None:
    remote_dir = Path(remote_docker_env["RONDO_REMOTE_DOCKER_DIR"])
    repo = make_repo(tmp_path / "app", {".circleci/config.yml": CONFIG})
    with server.client() as api:
        first = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}).json()["first_pipeline"]
        wf = run_main(api, first["id"])
        jobs = jobs_by_name(api, wf["id"])
        outputs = {name: step_output(api, job["job_number"]) for name, job in jobs.items()}
        assert wf["status"] == "success", outputs

        remote = outputs["remote_docker"]
        assert "Remote Docker engine created" in remote["Setup a remote Docker engine"]
        assert "Preloaded alpine:latest" in remote["Setup a remote Docker engine"]
        assert "hello" in remote["Build a really basic docker image"]
        assert "Server:" in remote["docker version"]
        own = remote["The engine is this job's own, over TLS"].split()
        assert own[0].startswith("tcp://") and own[0].endswith(":2376") and own[1] == "1"
        assert own[2:5] == ["ca.pem", "cert.pem", "key.pem"]
        assert "the agent's /etc is not writable" in remote["Root in the engine's containers is not root on the agent"]
        assert not Path("/etc/rondo-was-here").exists()
        assert "built" in outputs["docker_layer_caching"]["Layers kept between jobs"]

        # A second pipeline: the kept layer store comes back; the per-job store does not.
        second = api.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"})
        assert second.status_code == 201, second.text
        wf2 = run_main(api, second.json()["id"])
        jobs2 = jobs_by_name(api, wf2["id"])
        assert wf2["status"] == "success"
        kept = step_output(api, jobs2["docker_layer_caching"]["job_number"])
        assert "reusing a kept layer store" in kept["Setup a remote Docker engine"]
        assert "kept from an earlier job" in kept["Layers kept between jobs"]

    # Everything the engines used is gone: processes, per-job stores, bridges (kept stores stay).
    wait_for(lambda: not engines_left() or None, timeout=30, what="the remote engines to stop")
    assert list((remote_dir / "jobs").iterdir()) == []
    assert len(list((remote_dir / "dlc").glob("*/*"))) == 1
    bridges = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    assert "rondo-rd" not in bridges


def test_setup_remote_docker_in_a_machine_job_says_why_it_fails(server: RondoServer, tmp_path: Path) -> None:
    config = "version: 2.1\njobs:\n  build:\n    machine: true\n    steps: [setup_remote_docker]\n"
    repo = make_repo(tmp_path / "machine", {".circleci/config.yml": config})
    with server.client() as api:
        first = api.post("/api/v2/project/gh/acme/app", json={"vcs_url": str(repo)}).json()["first_pipeline"]
        wf = run_main(api, first["id"])
        job = jobs_by_name(api, wf["id"])["build"]
        assert job["status"] == "failed"
        out = step_output(api, job["job_number"])["Setup a remote Docker engine"]
        assert "not compatible with the machine executor" in out
