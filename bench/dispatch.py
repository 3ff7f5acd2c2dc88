"""Dispatch: API trigger -> first step running (p50/p99) and claim throughput, each against a baseline.

- machine executor vs a bare `bash -c true` spawn;
- docker executor vs `docker run --rm` of the same image (needs the local images, scripts/build-images);
- tasks/s claimed by 50 concurrent agents on PostgreSQL (RONDO_BENCH_POSTGRES_URL, default the machine's).
Baselines are measured in the same run; results are ratios (bench/README.md records them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx2

from tests.conftest import make_repo
from tests.e2e.server_process import RondoServer

MACHINE = 'version: 2.1\njobs:\n  build:\n    machine: true\n    steps:\n      - run: "true"\n'
DOCKER = 'version: 2.1\njobs:\n  build:\n    docker: [{image: cimg/base:stable}]\n    steps:\n      - run: "true"\n'
IMAGE_MAP = "cimg/*=rondo/base:bookworm"


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def _first_step_started(api: httpx2.Client, slug: str, pipeline_id: str) -> datetime:
    # The start time is the one the agent reports, so polling late costs nothing; polling at once would
    # compete with the dispatch being measured for this machine's two cores and the database.
    time.sleep(0.3)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items = api.get(f"/api/v2/pipeline/{pipeline_id}/workflow").json()["items"]
        if items:
            jobs = api.get(f"/api/v2/workflow/{items[0]['id']}/job").json()["items"]
            number = jobs[0].get("job_number") if jobs else None
            if number is not None:
                steps = api.get(f"/api/v1.1/project/{slug}/{number}").json()["steps"]
                if steps and steps[0]["actions"][0]["start_time"]:
                    return datetime.fromisoformat(steps[0]["actions"][0]["start_time"].replace("Z", "+00:00"))
        time.sleep(0.05)
    raise RuntimeError("the first step never started")


def trigger_latencies(config: str, repeat: int, **env: str) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp) / "app", {".circleci/config.yml": config})
        server = RondoServer(Path(tmp) / "data", "", **env).start()
        try:
            with server.client() as api:
                api.post("/api/v2/project/gh/bench/app", json={"vcs_url": str(repo)}).raise_for_status()
                time.sleep(1.0)  # let the first pipeline (made by following) finish
                out = []
                for _ in range(repeat):
                    sent = datetime.now().astimezone()
                    pid = api.post("/api/v2/project/gh/bench/app/pipeline", json={"branch": "main"}).json()["id"]
                    out.append((_first_step_started(api, "github/bench/app", pid) - sent).total_seconds())
                return out
        finally:
            server.stop()


def timed(argv: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - start)
    return out


async def claims_per_second(database_url: str, agents: int = 50, tasks: int = 1500) -> float:
    from rondo.store import tasks as task_q
    from rondo.store.db import Database
    from rondo.store.migrate import upgrade
    from rondo.store.models import Agent, ApiToken, Job, Organization, Pipeline, Project, Task, Workflow
    from rondo.store.types import utcnow

    upgrade(database_url)
    db = Database(database_url)
    try:
        async with db.session() as s:
            org = Organization(slug=f"gh/b{uuid.uuid4().hex[:8]}", name="b", vcs="gh")
            s.add(org)
            await s.flush()
            project = Project(organization_id=org.id, slug=f"{org.slug}/app", name="app", vcs_url="/x")
            s.add(project)
            await s.flush()
            pipe = Pipeline(project_id=project.id, number=1, state="created", trigger_type="api", trigger_actor="b",
                            vcs_url="/x", parameters={}, errors=[])  # fmt: skip
            s.add(pipe)
            await s.flush()
            wf = Workflow(pipeline_id=pipe.id, name="w", status="running")
            token = ApiToken(kind="agent", label="b", digest=uuid.uuid4().hex, display="b")
            s.add_all([wf, token])
            await s.flush()
            ids = []
            for i in range(agents):
                agent = Agent(name=f"bench-{i}", token_id=token.id, executors=["machine"], resource_classes=["medium"])
                s.add(agent)
                await s.flush()
                ids.append(agent.id)
            for i in range(tasks):
                job = Job(workflow_id=wf.id, project_id=project.id, name=f"j{i}", type="build", status="queued",
                          requires={}, definition={}, executor_type="machine", resource_class="medium")  # fmt: skip
                s.add(job)
                await s.flush()
                s.add(Task(job_id=job.id, node_index=0, status="queued", executor_type="machine",
                           resource_class="medium", spec={}, queued_at=utcnow()))  # fmt: skip
        claimed = 0

        async def agent_loop(agent_id: uuid.UUID) -> None:
            nonlocal claimed
            while True:
                async with db.session() as s:
                    task = await task_q.claim_next(s, agent_id, ["machine"], skip_locked=True, now=utcnow(),
                                                   resource_classes=["medium"])  # fmt: skip
                if task is None:
                    return
                claimed += 1

        # A server's connection pool is open long before agents claim: open it here too (and compile the
        # claim statement once), so the rate is the claims', not PostgreSQL's connection setup.
        async def warm(agent_id: uuid.UUID) -> None:
            async with db.session() as s:
                await task_q.claim_next(
                    s, agent_id, ["none"], skip_locked=True, now=utcnow(), resource_classes=["medium"]
                )

        await asyncio.gather(*(warm(a) for a in ids))
        start = time.perf_counter()
        await asyncio.gather(*(agent_loop(a) for a in ids))
        elapsed = time.perf_counter() - start
        assert claimed == tasks, f"claimed {claimed} of {tasks}"
        return claimed / elapsed
    finally:
        await db.close()


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database on the server of `server_url`, dropped afterwards: claims measured on a queue that
    earlier runs left full of dead rows (where autovacuum is off, as on this machine) measure the bloat."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"rondo_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def run(repeat: int = 15, only: str | None = None) -> list[str]:
    lines = []
    if only in (None, "machine"):
        machine = trigger_latencies(MACHINE, repeat, RONDO_AGENT_DOCKER="off")
        spawn = timed(["bash", "-c", "true"], repeat)
        lines.append(
            f"machine: trigger->first step p50 {statistics.median(machine) * 1000:.0f} ms, "
            f"p99 {_percentile(machine, 0.99) * 1000:.0f} ms; bare spawn p50 {statistics.median(spawn) * 1000:.1f} ms"
        )
    if only not in (None, "docker"):
        pass
    elif subprocess.run(["docker", "image", "inspect", "rondo/base:bookworm"], capture_output=True).returncode == 0:
        # As agents run by default (warm primaries, docker_warm), and every job started cold.
        for label, warm in (("docker", "2"), ("docker, no warm primaries", "0")):
            docker = trigger_latencies(
                DOCKER, repeat, RONDO_AGENT_DOCKER="on", RONDO_IMAGE_MAP=IMAGE_MAP, RONDO_DOCKER_WARM_PRIMARIES=warm
            )
            plain = timed(["docker", "run", "--rm", "rondo/base:bookworm", "true"], repeat)
            ratio = statistics.median(docker) / statistics.median(plain)
            lines.append(
                f"{label}: trigger->first step p50 {statistics.median(docker) * 1000:.0f} ms, "
                f"p99 {_percentile(docker, 0.99) * 1000:.0f} ms; "
                f"docker run p50 {statistics.median(plain) * 1000:.0f} ms; ratio {ratio:.2f}x (target <= 1.3)"
            )
    else:
        lines.append("docker: skipped, run scripts/build-images first")
    if only in (None, "claims"):
        pg = os.environ.get("RONDO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
        with fresh_database(pg) as url:
            rate = asyncio.run(claims_per_second(url))
        lines.append(f"claims: {rate:.0f} tasks/s by 50 concurrent agents on PostgreSQL (target >= 300)")
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["machine", "docker", "claims"], help="run one part (default: all)")
    parser.add_argument("--repeat", type=int, default=15, help="triggers (and baseline runs) per part")
    args = parser.parse_args()
    for line in run(args.repeat, args.only):
        print(line)
