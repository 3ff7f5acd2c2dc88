"""Outbound webhooks end to end: a real pipeline (fake executor) on the in-process server, a real receiver on
loopback; signatures checked with hmac, payloads shaped like CircleCI's samples, retries, a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from rondo.store.db import Database
from rondo.store.models import WebhookDelivery
from tests.conftest import SHARED, git
from tests.engine.harness import InProcessServer, wait_for
from tests.engine.test_engine_with_fake_agent import fake_agent, finished_jobs, follow
from tests.ops.receiver import Receiver, Slow

SAMPLES = SHARED / "reference" / "api" / "outbound-webhooks"
SECRET = "whsec-correct-horse"
CONFIG = """\
version: 2.1
jobs:
  build:
    machine: true
    steps: [{run: echo build}]
  deploy:
    machine: true
    steps:
      - run: {command: boom, environment: {RONDO_FAKE_EXIT_CODE: "1"}}
workflows:
  main:
    jobs:
      - build
      - deploy: {requires: [build]}
"""
ONE_JOB = """\
version: 2.1
jobs:
  build:
    machine: true
    steps: [{run: echo build}]
workflows:
  main: {jobs: [build]}
"""


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[InProcessServer]:
    with InProcessServer(tmp_path / "data", database_url, heartbeat_interval_s=0.5, webhook_retry_base_s=0.2) as srv:
        yield srv


@contextlib.asynccontextmanager
async def running_server(data: Path, database_url: str, **settings: Any) -> AsyncIterator[InProcessServer]:
    """An in-process server started (and stopped) from inside a test's event loop."""
    server = await asyncio.to_thread(InProcessServer, data, database_url, **settings)
    await asyncio.to_thread(server.__enter__)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)


def key_structure(value: Any) -> Any:
    """The nesting of keys, without the values."""
    if isinstance(value, dict):
        return {k: key_structure(v) for k, v in value.items()}
    return None


def sample(name: str) -> dict[str, Any]:
    return dict(json.loads((SAMPLES / name).read_text()))


def signed_by(secret: str, received: Any) -> bool:
    expected = hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    versions = dict(p.split("=", 1) for p in received.headers["circleci-signature"].split(","))
    return hmac.compare_digest(versions["v1"], expected)


async def add_webhook(
    api: httpx2.AsyncClient, url: str, events: list[str], secret: str = SECRET, verify_tls: bool = True
) -> dict[str, Any]:
    project = (await api.get("/api/v2/project/gh/acme/app")).json()
    body = {
        "name": "Sample Webhook",
        "events": events,
        "url": url,
        "verify-tls": verify_tls,
        "signing-secret": secret,
        "scope": {"id": project["id"], "type": "project"},
    }
    made = await api.post("/api/v2/webhook", json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def deliveries(database_url: str) -> list[WebhookDelivery]:
    db = Database(database_url)
    try:
        async with db.session() as session:
            stmt = select(WebhookDelivery).order_by(WebhookDelivery.created_at, WebhookDelivery.event_type)
            return list((await session.execute(stmt)).scalars())
    finally:
        await db.close()


async def test_a_pipeline_sends_signed_events_shaped_like_circleci_samples(
    server: InProcessServer, tmp_path: Path, database_url: str
) -> None:
    with Receiver() as receiver:
        async with server.api() as api:
            pipeline = await follow(api, tmp_path, CONFIG)  # queued; nothing runs until the agent comes
            hook = await add_webhook(api, receiver.url, ["workflow-completed", "job-completed"])
            async with fake_agent(server, tmp_path):
                status, jobs = await finished_jobs(api, pipeline["id"])
            assert status == "failed"
            project = (await api.get("/api/v2/project/gh/acme/app")).json()
            workflow = (await api.get(f"/api/v2/pipeline/{pipeline['id']}/workflow")).json()["items"][0]
            await wait_for(lambda: _count(receiver, 3), what="two job-completed and one workflow-completed")
            (wf_event,) = receiver.of_type("workflow-completed")
            page = await api.get(wf_event.json["workflow"]["url"])  # the link leads to the workflow
            assert page.status_code == 200 and f'id="workflow-{workflow["id"]}"' in page.text

    job_events = {r.json["job"]["name"]: r for r in receiver.of_type("job-completed")}
    (wf_event,) = receiver.of_type("workflow-completed")
    assert set(job_events) == {"build", "deploy"}
    for received in [wf_event, *job_events.values()]:
        headers = received.headers
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"] == "CircleCI-Webhook/1.0"
        assert headers["circleci-event-type"] == headers["circle-event-type"] == received.json["type"]
        uuid.UUID(headers["circle-delivery-id"])
        assert signed_by(SECRET, received) and not signed_by("another secret", received)
        assert received.path == "/hooks/circleci"

    # The same keys, nested the same way, as CircleCI's own samples (GitHub OAuth projects).
    wf, build = wf_event.json, job_events["build"].json
    assert key_structure(wf) == key_structure(sample("workflow-completed.github-oauth.json"))
    assert key_structure(build) == key_structure(sample("job-completed.github-oauth.json"))

    repo = tmp_path / "repo"
    assert wf["type"] == "workflow-completed" and wf["webhook"] == {"id": hook["id"], "name": "Sample Webhook"}
    assert wf["project"] == {"id": project["id"], "name": "app", "slug": "github/acme/app"}
    assert wf["organization"] == {"id": project["organization_id"], "name": "acme"}
    assert wf["workflow"]["id"] == workflow["id"] and wf["workflow"]["status"] == "failed"
    assert wf["workflow"]["url"] == f"{server.url}/pipelines/{pipeline['id']}#workflow-{workflow['id']}"
    assert wf["workflow"]["stopped_at"] == workflow["stopped_at"]
    assert (wf["pipeline"]["id"], wf["pipeline"]["number"], wf["pipeline"]["trigger"]) == (
        pipeline["id"],
        1,
        {"type": "webhook"},
    )
    vcs = wf["pipeline"]["vcs"]
    assert (vcs["provider_name"], vcs["branch"], vcs["revision"]) == ("github", "main", git(repo, "rev-parse", "HEAD"))
    assert vcs["origin_repository_url"] == vcs["target_repository_url"] == str(repo)
    assert vcs["commit"]["subject"] == "initial commit"
    assert (
        vcs["commit"]["author"] == vcs["commit"]["committer"] == {"name": "Rondo Test", "email": "test@rondo.invalid"}
    )
    committed = datetime.fromisoformat(git(repo, "log", "-1", "--format=%cI")).astimezone(UTC)
    assert vcs["commit"]["committed_at"] == committed.strftime("%Y-%m-%dT%H:%M:%SZ") == vcs["commit"]["authored_at"]
    for name, received in job_events.items():
        job = received.json["job"]
        assert job["number"] == jobs[name]["job_number"] and job["id"] == jobs[name]["id"]
        assert job["status"] == {"build": "success", "deploy": "failed"}[name]
        assert job["started_at"] and job["stopped_at"] and "status" not in received.json["workflow"]
    assert len({r.json["id"] for r in receiver.received}) == 3  # one id per event, for deduplication
    assert wf["happened_at"].endswith("Z")

    rows = await deliveries(database_url)
    assert [(r.status, r.attempts, r.last_status_code) for r in rows] == [("delivered", 1, 200)] * 3
    assert {str(r.id) for r in rows} == {r.headers["circle-delivery-id"] for r in receiver.received}


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.received) >= n


async def test_only_subscribed_events_are_sent(server: InProcessServer, tmp_path: Path) -> None:
    with Receiver() as jobs_only, Receiver() as workflows_only:
        async with server.api() as api:
            pipeline = await follow(api, tmp_path, ONE_JOB)
            await add_webhook(api, jobs_only.url, ["job-completed"])
            await add_webhook(api, workflows_only.url, ["workflow-completed"], secret="")
            async with fake_agent(server, tmp_path):
                await finished_jobs(api, pipeline["id"])
        await wait_for(lambda: _count(jobs_only, 1), what="the job-completed event")
        await wait_for(lambda: _count(workflows_only, 1), what="the workflow-completed event")
    assert [r.headers["circleci-event-type"] for r in jobs_only.received] == ["job-completed"]
    assert [r.headers["circleci-event-type"] for r in workflows_only.received] == ["workflow-completed"]
    assert "circleci-signature" not in workflows_only.received[0].headers  # no secret, no signature


async def test_a_failed_or_slow_answer_is_retried_until_delivered_once(tmp_path: Path, database_url: str) -> None:
    settings = {"heartbeat_interval_s": 0.5, "webhook_retry_base_s": 0.2, "webhook_timeout_s": 1.0}
    with Receiver([500, Slow(3.0), 200]) as receiver:
        async with running_server(tmp_path / "data", database_url, **settings) as server:
            async with server.api() as api:
                pipeline = await follow(api, tmp_path, ONE_JOB)
                await add_webhook(api, receiver.url, ["workflow-completed"])
                async with fake_agent(server, tmp_path):
                    await finished_jobs(api, pipeline["id"])

            async def delivered() -> list[WebhookDelivery] | None:
                rows = await deliveries(database_url)
                return rows if rows and rows[0].status == "delivered" else None

            (row,) = await wait_for(delivered, what="the delivery to succeed")
    assert len(receiver.received) == 3
    assert len({r.body for r in receiver.received}) == 1  # the same event (same id) every time
    assert len({r.headers["circle-delivery-id"] for r in receiver.received}) == 1
    assert all(signed_by(SECRET, r) for r in receiver.received)
    assert row.attempts == 3 and row.finished_at is not None and row.next_attempt_at is None
    outcomes = [(a["status_code"], a["error"]) for a in row.attempt_log]
    assert outcomes == [(500, None), (None, "no answer within 1 s"), (200, None)]


async def test_a_pending_delivery_survives_a_restart(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    settings = {"heartbeat_interval_s": 0.5, "webhook_retry_base_s": 1.0, "webhook_max_attempts": 10}
    with Receiver(default=503) as receiver:
        async with running_server(data, database_url, **settings) as first:
            async with first.api() as api:
                pipeline = await follow(api, tmp_path, ONE_JOB)
                await add_webhook(api, receiver.url, ["workflow-completed"])
                async with fake_agent(first, tmp_path):
                    await finished_jobs(api, pipeline["id"])
            await wait_for(lambda: _count(receiver, 1), what="a first attempt")
        # The server is down; the receiver is fixed meanwhile.
        (pending,) = await deliveries(database_url)
        assert pending.status == "pending" and pending.attempts >= 1 and pending.last_status_code == 503
        tried = len(receiver.received)
        receiver.default = 200
        async with running_server(data, database_url, **settings):

            async def delivered() -> WebhookDelivery | None:
                (row,) = await deliveries(database_url)
                return row if row.status == "delivered" else None

            row = await wait_for(delivered, what="the new server to deliver it")
    assert len(receiver.received) == tried + 1 and row.attempts == tried + 1
    assert [a["status_code"] for a in row.attempt_log] == [503] * tried + [200]
    assert receiver.received[-1].body == receiver.received[0].body and signed_by(SECRET, receiver.received[-1])


async def test_canceled_and_unauthorized_jobs_are_told_too(server: InProcessServer, tmp_path: Path) -> None:
    config = """\
version: 2.1
jobs:
  build:
    machine: true
    steps: [{run: echo build}]
  secret:
    machine: true
    steps: [{run: echo secret}]
workflows:
  plain: {jobs: [build]}
  guarded: {jobs: [{secret: {context: no-such-context}}]}
"""
    with Receiver() as receiver:
        async with server.api() as api:
            await follow(api, tmp_path, config)  # made before the webhook: sends nothing
            await add_webhook(api, receiver.url, ["workflow-completed", "job-completed"])
            triggered = await api.post("/api/v2/project/gh/acme/app/pipeline", json={"branch": "main"})
            assert triggered.status_code == 201, triggered.text
            workflows = (await api.get(f"/api/v2/pipeline/{triggered.json()['id']}/workflow")).json()["items"]
            plain = next(w for w in workflows if w["name"] == "plain")
            # No agent runs: `build` waits in the queue until it is canceled.
            assert (await api.post(f"/api/v2/workflow/{plain['id']}/cancel")).status_code == 202
            await wait_for(lambda: _count(receiver, 4), what="two jobs' and two workflows' events")
    told = {(r.json["type"], (r.json.get("job") or r.json["workflow"])["name"]): r.json for r in receiver.received}
    assert {key: (body.get("job") or body["workflow"])["status"] for key, body in told.items()} == {
        ("job-completed", "build"): "canceled",
        ("workflow-completed", "plain"): "canceled",
        ("job-completed", "secret"): "unauthorized",
        ("workflow-completed", "guarded"): "unauthorized",
    }
    assert told[("job-completed", "build")]["job"]["started_at"] is None  # it never ran
    assert len(receiver.received) == 4
