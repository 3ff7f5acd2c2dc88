"""What people do to running work: approve a hold, cancel a workflow or job, rerun a workflow.

Each action changes job statuses in one transaction and lets the conductor settle the workflow,
so the rules about what runs next stay in one place.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.status import FINAL_JOB_STATUSES, JobStatus
from rondo.engine.conductor import Conductor
from rondo.engine.job_events import actor_origin, record_job_event
from rondo.engine.reruns import RerunError, create_rerun
from rondo.engine.wakeup import Wakeup
from rondo.ops.audit import Origin
from rondo.store import pipelines as pipeline_q
from rondo.store import tasks as task_q
from rondo.store.db import Database
from rondo.store.models import Job, Workflow
from rondo.store.types import utcnow


class ActionError(Exception):
    """An action that cannot be done; `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class WorkflowActions:
    def __init__(self, db: Database, conductor: Conductor, wakeup: Wakeup, control: Wakeup | None = None) -> None:
        self._db = db
        self._conductor = conductor
        self._wakeup = wakeup
        self._control = control or Wakeup()  # tells agents' heartbeat long-polls about cancels

    async def _workflow(self, session: AsyncSession, workflow_id: uuid.UUID) -> Workflow:
        workflow = await pipeline_q.workflow_by_id(session, workflow_id)
        if workflow is None:
            raise ActionError(404, "Workflow not found")
        return workflow

    async def _settle(self, session: AsyncSession, workflow: Workflow) -> int:
        return (await self._conductor.settle_workflow(session, workflow)).queued_tasks

    def _notify(self, queued: int) -> None:
        if queued:
            self._wakeup.notify()

    async def approve(
        self, workflow_id: uuid.UUID, approval_request_id: uuid.UUID, actor: str, origin: Origin | None = None
    ) -> None:
        """Approve an on-hold approval job: it succeeds and the jobs waiting on it may run (workflow.job.approve)."""
        async with self._db.session() as session:
            workflow = await self._workflow(session, workflow_id)
            job = await pipeline_q.job_by_id(session, approval_request_id)
            if job is None or job.workflow_id != workflow.id or job.type != "approval":
                raise ActionError(404, "Approval request not found")
            if job.status != JobStatus.ON_HOLD:
                raise ActionError(
                    400, f"This approval job is {job.status}, not on hold; only a held job can be approved"
                )
            now = utcnow()
            job.status = JobStatus.SUCCESS
            job.approved_by = actor
            job.started_at = job.started_at or now
            job.stopped_at = now
            who = origin or await actor_origin(session, actor)
            await record_job_event(session, "workflow.job.approve", job, origin=who)
            queued = await self._settle(session, workflow)
        self._notify(queued)

    async def cancel_workflow(self, workflow_id: uuid.UUID, actor: str) -> None:
        """Cancel every job that has not finished; running ones stop through their agents."""
        async with self._db.session() as session:
            workflow = await self._workflow(session, workflow_id)
            canceled = []
            for job in await pipeline_q.jobs_of(session, workflow.id):
                await self._cancel(session, job)
                canceled.append(job)
            workflow.canceled_by = actor
            queued = await self._settle(session, workflow)
            queued += await self._release(session, canceled)
        self._control.notify()
        self._notify(queued)

    async def cancel_job(self, job_id: uuid.UUID, actor: str) -> Job:
        async with self._db.session() as session:
            job = await pipeline_q.job_by_id(session, job_id)
            if job is None:
                raise ActionError(404, "Job not found")
            if job.status in FINAL_JOB_STATUSES:
                raise ActionError(400, f"The job has already finished ({job.status}); there is nothing to cancel")
            await self._cancel(session, job)
            workflow = await self._workflow(session, job.workflow_id)
            queued = await self._settle(session, workflow)
            queued += await self._release(session, [job])
        self._control.notify()
        self._notify(queued)
        return job

    async def _release(self, session: AsyncSession, jobs: list[Job]) -> int:
        """Canceled jobs of serial groups give the next waiting job of their group its turn."""
        queued = 0
        for job in jobs:
            if job.serial_group and job.status == JobStatus.CANCELED:
                await session.flush()
                queued += (await self._conductor.release_serial_group(session, job)).queued_tasks
        return queued

    async def _cancel(self, session: AsyncSession, job: Job) -> None:
        if job.status in FINAL_JOB_STATUSES:
            return
        now = utcnow()
        running = False
        for task in await task_q.tasks_of_job(session, job.id):
            if task.status == JobStatus.RUNNING:
                task.cancel_requested = True  # the agent hears it in its next heartbeat or event reply
                running = True
            elif task.status not in FINAL_JOB_STATUSES:
                task.status = JobStatus.CANCELED
                task.stopped_at = now
        if not running:
            job.status = JobStatus.CANCELED
            job.stopped_at = now
            if job.queued_at is not None:  # it was scheduled, so its end is audited and told like any other
                await record_job_event(session, "workflow.job.finish", job, success=False)
                await self._conductor.completions.job_completed(session, job)

    async def rerun(
        self,
        workflow_id: uuid.UUID,
        *,
        actor: str,
        from_failed: bool = False,
        job_ids: list[str] | None = None,
        sparse_tree: bool = False,
    ) -> uuid.UUID:
        """Rerun a finished workflow; returns the new workflow's id."""
        if from_failed and job_ids:
            raise ActionError(400, "Give `from_failed` or `jobs`, not both")
        async with self._db.session() as session:
            workflow = await self._workflow(session, workflow_id)
            try:
                rerun = await create_rerun(
                    session, workflow, from_failed=from_failed, job_ids=job_ids, sparse_tree=sparse_tree, actor=actor
                )
            except RerunError as exc:
                raise ActionError(400, str(exc)) from None
            queued = await self._settle(session, rerun)
            rerun_id = rerun.id
        self._notify(queued)
        return rerun_id
