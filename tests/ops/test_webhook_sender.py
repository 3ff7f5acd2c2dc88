"""The outbox and the sender on a real database with a real receiver: waking after commit, giving up,
a sender cancelled mid-send (its lease lets another send), TLS verification, deleted webhooks, pruning.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from rondo.domain.status import JobStatus, WorkflowStatus
from rondo.engine.webhooks import WebhookSpec
from rondo.ops.audit import SYSTEM, Origin
from rondo.ops.webhook_outbox import WebhookOutbox
from rondo.ops.webhook_sender import SenderSettings, WebhookSender
from rondo.server.app import build_services
from rondo.server.services import Services
from rondo.settings import Settings
from rondo.store import projects as project_q
from rondo.store.models import Job, Pipeline, Project, Webhook, WebhookDelivery, Workflow
from rondo.store.types import utcnow
from tests.engine.harness import wait_for
from tests.ops.receiver import Receiver, Slow, self_signed_tls

ORIGIN = Origin(SYSTEM)


@dataclass
class World:
    svc: Services
    outbox: WebhookOutbox
    project: Project
    workflow: Workflow
    job: Job

    def sender(self, **settings: float) -> WebhookSender:
        return WebhookSender(self.svc.db, self.svc.secret_box, self.outbox.delivery_added, SenderSettings(**settings))

    async def hook(self, url: str, *, verify_tls: bool = True, events: tuple[str, ...] = ("job-completed",)) -> Webhook:
        spec = WebhookSpec("hook", list(events), url, verify_tls, "sekrit", str(self.project.id))
        return await self.svc.webhooks.create(spec, ORIGIN)

    async def job_completes(self) -> None:
        async with self.svc.db.session() as session:
            job = await session.get(Job, self.job.id)
            assert job is not None
            job.status, job.stopped_at = JobStatus.SUCCESS, utcnow()
            await self.outbox.job_completed(session, job)

    async def rows(self) -> list[WebhookDelivery]:
        async with self.svc.db.session() as session:
            return list((await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.created_at))).scalars())


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    svc = build_services(Settings(data_dir=tmp_path / "data", database_url=database_url, builtin_agent=False))
    async with svc.db.session() as session:
        org = await project_q.ensure_organization(session, "gh", "gh/acme", "acme")
        project = Project(organization_id=org.id, slug="gh/acme/app", name="app", vcs_url="/srv/git/app")
        session.add(project)
        await session.flush()
        pipeline = Pipeline(
            project_id=project.id, number=1, state="created", trigger_type="api", trigger_actor="admin",
            branch="main", revision="0" * 40, vcs_url=project.vcs_url,
        )  # fmt: skip
        session.add(pipeline)
        await session.flush()
        workflow = Workflow(pipeline_id=pipeline.id, name="main", status=WorkflowStatus.RUNNING)
        session.add(workflow)
        await session.flush()
        job = Job(
            workflow_id=workflow.id, project_id=project.id, name="build", number=1, type="build",
            status=JobStatus.RUNNING, executor_type="machine", resource_class="medium", started_at=utcnow(),
        )  # fmt: skip
        session.add(job)
    try:
        yield World(svc, WebhookOutbox("http://rondo.test"), project, workflow, job)
    finally:
        await svc.db.close()


async def test_the_sender_is_woken_when_the_transaction_commits_not_before(world: World) -> None:
    await world.hook("http://127.0.0.1:9/unused")
    async with world.svc.db.session() as session:
        job = await session.get(Job, world.job.id)
        assert job is not None
        await world.outbox.job_completed(session, job)
        assert not world.outbox.delivery_added.is_set()  # the row is not visible to a sender yet
    assert world.outbox.delivery_added.is_set()
    (row,) = await world.rows()
    assert (row.status, row.attempts, row.event_type) == ("pending", 0, "job-completed")

    # A project without webhooks gets no rows, and nobody is woken.
    world.outbox.delivery_added.clear()
    async with world.svc.db.session() as session:
        wf = await session.get(Workflow, world.workflow.id)
        assert wf is not None
        await world.outbox.workflow_completed(session, wf)  # the hook wants job-completed only
    assert not world.outbox.delivery_added.is_set() and len(await world.rows()) == 1


async def test_a_receiver_that_keeps_failing_is_given_up_on(world: World) -> None:
    with Receiver(default=500) as receiver:
        await world.hook(receiver.url)
        await world.job_completes()
        async with world.sender(max_attempts=3, retry_base_s=0.05) as sender:
            for _ in range(100):
                await sender.deliver_due()
                (row,) = await world.rows()
                if row.status != "pending":
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            assert await sender.deliver_due() == 0  # nothing more to try
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 3, 500)
    assert row.finished_at is not None and row.next_attempt_at is None
    assert [a["status_code"] for a in row.attempt_log] == [500, 500, 500] and len(receiver.received) == 3


async def test_a_delivery_cut_off_by_shutdown_is_sent_again_after_its_lease(world: World) -> None:
    with Receiver([Slow(5.0)]) as receiver:
        await world.hook(receiver.url)
        await world.job_completes()
        first = world.sender(lease_s=1.0)
        loop = asyncio.create_task(first.run_loop())
        await wait_for(lambda: _any(receiver), what="the first sender to be sending")
        loop.cancel()  # the server stops while the receiver is still answering
        with pytest.raises(asyncio.CancelledError):
            await loop
        (row,) = await world.rows()
        assert (row.status, row.attempts) == ("pending", 0)

        async with world.sender() as second:
            assert await second.deliver_due() == 0  # still leased to the first
            await asyncio.sleep(1.1)
            assert await second.deliver_due() == 1
    (row,) = await world.rows()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert len(receiver.received) == 2 and receiver.received[0].body == receiver.received[1].body


async def test_verify_tls_is_honoured(world: World, tmp_path: Path) -> None:
    with Receiver(tls=self_signed_tls(tmp_path / "tls")) as receiver:
        strict = await world.hook(receiver.url, verify_tls=True)
        lenient = await world.hook(receiver.url, verify_tls=False)
        await world.job_completes()
        async with world.sender(max_attempts=1) as sender:
            assert await sender.deliver_due() == 2
    rows = {r.webhook_id: r for r in await world.rows()}
    assert (rows[lenient.id].status, rows[lenient.id].last_status_code) == ("delivered", 200)
    assert rows[strict.id].status == "failed" and rows[strict.id].last_status_code is None
    assert "CERTIFICATE_VERIFY_FAILED" in (rows[strict.id].last_error or "")
    assert len(receiver.received) == 1 and receiver.received[0].headers["circleci-signature"].startswith("v1=")


async def test_deleting_a_webhook_drops_its_deliveries(world: World) -> None:
    hook = await world.hook("http://127.0.0.1:9/unused")
    await world.job_completes()
    assert len(await world.rows()) == 1
    await world.svc.webhooks.delete(hook.id, ORIGIN)
    assert await world.rows() == []
    async with world.sender() as sender:
        assert await sender.deliver_due() == 0


async def test_finished_deliveries_are_pruned_after_keep_days(world: World) -> None:
    with Receiver() as receiver:
        await world.hook(receiver.url)
        await world.job_completes()
        async with world.sender(keep_days=7) as sender:
            assert await sender.deliver_due() == 1
            assert await sender.prune() == 0  # delivered just now
            assert await sender.prune(utcnow() + timedelta(days=8)) == 1
    assert await world.rows() == []


async def _any(receiver: Receiver) -> bool:
    return bool(receiver.received)
