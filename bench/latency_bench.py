"""Trigger-to-first-step latency on the built-in agent, against a bare process spawn."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx2

from tests.conftest import make_repo
from tests.e2e.server_process import RondoServer

CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps:
      - run: "true"
workflows:
  main:
    jobs: [build]
"""


def _first_step_started(api: httpx2.Client, pipeline_id: str) -> datetime:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        items = api.get(f"/api/v2/pipeline/{pipeline_id}/workflow").json()["items"]
        if items:
            jobs = api.get(f"/api/v2/workflow/{items[0]['id']}/job").json()["items"]
            number = jobs[0].get("job_number")
            if number is not None:
                steps = api.get(f"/api/v1.1/project/gh/bench/app/{number}").json()["steps"]
                if steps and steps[0]["actions"][0]["start_time"]:
                    return datetime.fromisoformat(steps[0]["actions"][0]["start_time"].replace("Z", "+00:00"))
        time.sleep(0.02)
    raise RuntimeError("the first step never started")


def run(repeat: int = 10) -> tuple[str, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp) / "app", {".circleci/config.yml": CONFIG})
        server = RondoServer(Path(tmp) / "data").start()
        try:
            with server.client() as api:
                api.post("/api/v2/project/gh/bench/app", json={"vcs_url": str(repo)}).raise_for_status()
                latencies = []
                for _ in range(repeat):
                    sent = datetime.now().astimezone()
                    pid = api.post("/api/v2/project/gh/bench/app/pipeline", json={"branch": "main"}).json()["id"]
                    latencies.append((_first_step_started(api, pid) - sent).total_seconds())
        finally:
            server.stop()
    spawns = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(["bash", "-c", "true"], check=True)
        spawns.append(time.perf_counter() - start)
    return ("trigger-to-first-step (machine)", statistics.median(latencies), statistics.median(spawns))
