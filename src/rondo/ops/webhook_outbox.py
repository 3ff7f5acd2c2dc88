"""The outbound webhooks' outbox: a completion event becomes one delivery row per subscribed webhook.

Rows are written in the transaction that decided the status, so an event is recorded exactly when the
status change is (a crash loses neither, and a rollback makes neither). Nothing here waits on a
subscriber: `rondo.ops.webhook_sender` sends the rows later, and is woken once the transaction commits.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.webhooks import JOB_COMPLETED, WORKFLOW_COMPLETED, event_id
from rondo.ops.webhook_payloads import EventSubject, encode, event_payload
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store import webhooks as webhook_q
from rondo.store.models import Job, Webhook, WebhookDelivery, Workflow
from rondo.store.types import utcnow

log = logging.getLogger(__name__)

_WAKE_KEY = "rondo.webhook_outbox.wake"


class WebhookOutbox:
    """Records workflow-completed and job-completed events (the conductor's completion listener)."""

    def __init__(self, public_url: str) -> None:
        self._public_url = public_url
        self.delivery_added = asyncio.Event()  # set after a transaction that added deliveries commits

    async def workflow_completed(self, session: AsyncSession, workflow: Workflow) -> None:
        pipeline = await pipeline_q.pipeline_by_id(session, workflow.pipeline_id)
        assert pipeline is not None
        hooks = await self._subscribed(session, pipeline.project_id, WORKFLOW_COMPLETED)
        if hooks:
            await self._add(session, WORKFLOW_COMPLETED, workflow.id, hooks, workflow, None)

    async def job_completed(self, session: AsyncSession, job: Job) -> None:
        hooks = await self._subscribed(session, job.project_id, JOB_COMPLETED)
        if hooks:
            workflow = await pipeline_q.workflow_by_id(session, job.workflow_id)
            assert workflow is not None
            await self._add(session, JOB_COMPLETED, job.id, hooks, workflow, job)

    async def _subscribed(self, session: AsyncSession, project_id: uuid.UUID, event_type: str) -> list[Webhook]:
        return [h for h in await webhook_q.project_webhooks(session, project_id) if event_type in h.events]

    async def _add(
        self,
        session: AsyncSession,
        event_type: str,
        subject_id: uuid.UUID,
        hooks: list[Webhook],
        workflow: Workflow,
        job: Job | None,
    ) -> None:
        pipeline = await pipeline_q.pipeline_by_id(session, workflow.pipeline_id)
        assert pipeline is not None
        project = await project_q.project_by_id(session, pipeline.project_id)
        assert project is not None
        org = await project_q.organization(session, project.organization_id)
        subject = EventSubject(project, org, pipeline, workflow, job)
        now = utcnow()
        for hook in hooks:
            eid = event_id(event_type, subject_id, hook.id)
            try:
                payload = encode(event_payload(event_type, eid, now, hook, subject, self._public_url))
            except Exception:  # a webhook must never fail the status change it reports
                log.exception("webhook %s: cannot make the %s payload of %s", hook.id, event_type, subject_id)
                continue
            session.add(
                WebhookDelivery(
                    id=uuid.uuid4(),
                    webhook_id=hook.id,
                    event_type=event_type,
                    event_id=eid,
                    payload=payload,
                    status=webhook_q.PENDING,
                    attempts=0,
                    attempt_log=[],
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        self._wake_after_commit(session)

    def _wake_after_commit(self, session: AsyncSession) -> None:
        sync_session = session.sync_session
        if sync_session.info.get(_WAKE_KEY):
            return
        sync_session.info[_WAKE_KEY] = True

        def _committed(_: Any) -> None:
            sync_session.info.pop(_WAKE_KEY, None)
            self.delivery_added.set()

        # After a rollback this still fires on the session's next commit: one wake too many, never one too few.
        event.listen(sync_session, "after_commit", _committed, once=True)
