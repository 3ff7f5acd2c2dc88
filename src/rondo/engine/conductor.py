"""Moves jobs through their lives: queue runnable jobs as tasks, apply agents' results, unblock dependants.

Every change to a workflow's jobs goes through `settle_workflow`, so the rules live in one place
(the pure ones in `rondo.domain.workflow_graph`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from rondo.domain.ssh_keys import is_ssh_url, known_hosts_for
from rondo.domain.status import FINAL_JOB_STATUSES, JobStatus, PipelineState, WorkflowStatus
from rondo.domain.workflow_graph import GraphJob, settle, workflow_status
from rondo.engine import job_secrets, job_ssh_keys
from rondo.engine.completions import CompletionListener, NoCompletions
from rondo.engine.job_events import actor_login, record_job_event
from rondo.engine.reruns import create_rerun
from rondo.engine.task_specs import TaskContext, build_task_spec
from rondo.engine.test_results import timings_for
from rondo.engine.workspaces import workspace_of
from rondo.secrets.continuation import continuation_key
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store import tasks as task_q
from rondo.store.models import Job, Pipeline, Project, Task, Workflow
from rondo.store.types import utcnow

# When a job's parallel tasks end differently, the job takes the most serious outcome.
_SEVERITY = [
    JobStatus.INFRASTRUCTURE_FAIL,
    JobStatus.TIMEDOUT,
    JobStatus.FAILED,
    JobStatus.CANCELED,
    JobStatus.SUCCESS,
]


@dataclass(frozen=True)
class ConductorSettings:
    public_url: str
    no_output_timeout_s: float
    max_job_time_s: float
    server_key: bytes = b""  # signs the continuation keys given to setup jobs
    known_hosts_file: Path | None = None  # host keys the server has seen reading SSH repositories


@dataclass
class SettleResult:
    queued_tasks: int = 0


class Conductor:
    def __init__(self, settings: ConductorSettings, completions: CompletionListener | None = None) -> None:
        self._settings = settings
        self.completions = completions or NoCompletions()  # told of every job and workflow that ends

    async def settle_workflow(
        self, session: AsyncSession, workflow: Workflow, new_jobs: list[Job] | None = None
    ) -> SettleResult:
        """Queue every job whose requirements are met, mark doomed ones not_run, update the status.

        `new_jobs` are all the jobs of a workflow just made in this session (no need to read them back).
        """
        result = SettleResult()
        if new_jobs is not None:
            jobs = sorted(new_jobs, key=lambda j: (j.created_at, j.name))  # as jobs_of orders them
        else:
            jobs = await pipeline_q.jobs_of(session, workflow.id)
        by_name = {j.name: j for j in jobs}
        graph = {
            j.name: GraphJob(
                j.name,
                JobStatus(j.status),
                {req: frozenset(JobStatus(s) for s in statuses) for req, statuses in j.requires.items()},
            )
            for j in jobs
        }
        now = utcnow()
        markers_done = False
        for name, status in settle(graph).items():
            job = by_name[name]
            if status == JobStatus.QUEUED and job.type == "approval":
                job.status = JobStatus.ON_HOLD  # waits for a person, until approved through the API or UI
            elif status == JobStatus.QUEUED and job.type == "no-op":
                job.status = JobStatus.SUCCESS  # a job group's start/end marker: nothing to run
                job.started_at = job.stopped_at = now
                markers_done = True
            elif status == JobStatus.QUEUED and job.serial_group:
                turn = await self._serial_group_turn(session, job)
                if turn == "run":
                    result.queued_tasks += await self._queue_job(session, workflow, job)
                    markers_done = markers_done or job.status == JobStatus.UNAUTHORIZED
                elif turn == "skip":
                    job.status = JobStatus.NOT_RUN
                    job.stopped_at = now
                    await session.flush()
                    result.queued_tasks += (await self.settle_workflow(session, workflow)).queued_tasks
                    return result
                # "wait": it stays blocked until the group's current job ends
            elif status == JobStatus.QUEUED:
                result.queued_tasks += await self._queue_job(session, workflow, job)
                markers_done = markers_done or job.status == JobStatus.UNAUTHORIZED
            else:
                job.status = status
                job.stopped_at = now
        if markers_done:
            await session.flush()
            result.queued_tasks += (await self.settle_workflow(session, workflow)).queued_tasks
            return result
        new_status = workflow_status([JobStatus(j.status) for j in jobs])
        if new_status != workflow.status:
            workflow.status = new_status
            if new_status in (
                WorkflowStatus.SUCCESS,
                WorkflowStatus.FAILED,
                WorkflowStatus.NOT_RUN,
                WorkflowStatus.CANCELED,
                WorkflowStatus.ERROR,
                WorkflowStatus.UNAUTHORIZED,
            ):
                workflow.stopped_at = now
                await self.completions.workflow_completed(session, workflow)
            if new_status == WorkflowStatus.FAILED and workflow.auto_rerun < workflow.max_auto_reruns:
                # `max_auto_reruns`: rerun from failed, as CircleCI does, until the budget is spent.
                rerun = await create_rerun(
                    session, workflow, from_failed=True, actor="auto-rerun", auto_rerun=workflow.auto_rerun + 1
                )
                result.queued_tasks += (await self.settle_workflow(session, rerun)).queued_tasks
        return result

    async def _serial_group_turn(self, session: AsyncSession, job: Job) -> str:
        """Whether a runnable job of a serial group may "run" now, must "wait", or is to "skip".

        One job of a group runs at a time across the organization. A job from an older pipeline of
        the same project than one already in the group is skipped, as CircleCI does (§10.10).
        """
        assert job.serial_group is not None
        project = await project_q.project_by_id(session, job.project_id)
        assert project is not None
        active = [
            j
            for j in await pipeline_q.serial_group_jobs(
                session, project.organization_id, job.serial_group, [JobStatus.QUEUED, JobStatus.RUNNING]
            )
            if j.id != job.id
        ]
        if not active:
            return "run"
        mine = await self._pipeline_number(session, job)
        for other in active:
            if other.project_id == job.project_id and await self._pipeline_number(session, other) > mine:
                return "skip"
        return "wait"

    async def _pipeline_number(self, session: AsyncSession, job: Job) -> int:
        workflow = await pipeline_q.workflow_by_id(session, job.workflow_id)
        assert workflow is not None
        pipeline = await pipeline_q.pipeline_by_id(session, workflow.pipeline_id)
        assert pipeline is not None
        return pipeline.number

    async def release_serial_group(self, session: AsyncSession, job: Job) -> SettleResult:
        """A serial group's job ended: let the oldest waiting job of the group have its turn."""
        result = SettleResult()
        if not job.serial_group:
            return result
        project = await project_q.project_by_id(session, job.project_id)
        assert project is not None
        waiting = await pipeline_q.serial_group_jobs(
            session, project.organization_id, job.serial_group, [JobStatus.BLOCKED]
        )
        seen: set[uuid.UUID] = set()
        for other in waiting:
            if other.workflow_id in seen:
                continue
            seen.add(other.workflow_id)
            workflow = await pipeline_q.workflow_by_id(session, other.workflow_id)
            assert workflow is not None
            result.queued_tasks += (await self.settle_workflow(session, workflow)).queued_tasks
            await session.flush()
            busy = await pipeline_q.serial_group_jobs(
                session, project.organization_id, job.serial_group, [JobStatus.QUEUED, JobStatus.RUNNING]
            )
            if busy:
                break
        return result

    async def _queue_job(self, session: AsyncSession, workflow: Workflow, job: Job) -> int:
        pipeline = await pipeline_q.pipeline_by_id(session, workflow.pipeline_id)
        assert pipeline is not None
        project = await project_q.project_by_id(session, pipeline.project_id)
        assert project is not None
        now = utcnow()
        # Held, so the audit event's lineage comes from the session (which holds objects weakly), not a query.
        _org = await project_q.organization(session, project.organization_id)
        job.number = await project_q.next_job_number(session, project.id)
        # These reads never read the job, so its number and queued state are written in one UPDATE later.
        with session.no_autoflush:
            secrets = await job_secrets.choose(session, project, job.contexts, actor_login(workflow, pipeline))
        if isinstance(secrets, job_secrets.Unauthorized):
            # As CircleCI does: the job never runs and never sees the values; its dependants settle.
            job.status = JobStatus.UNAUTHORIZED
            job.message = secrets.message
            job.stopped_at = now
            await record_job_event(session, "workflow.job.finish", job, success=False, reason=secrets.message)
            await self.completions.job_completed(session, job)
            return 0
        with session.no_autoflush:
            secrets += await job_ssh_keys.choose(session, project, job.definition, pipeline.vcs_url)
            job.status = JobStatus.QUEUED
            job.queued_at = now
            await record_job_event(session, "workflow.job.scheduled", job, contexts=list(job.contexts or []))
        workspace_id = str(await workspace_of(session, workflow))  # reruns share the original's workspace
        timings = await timings_for(session, project.id, job.name)  # for `circleci tests split --split-by=timings`
        known_hosts = self._known_hosts(pipeline.vcs_url)
        for index in range(job.parallelism):
            task_id = uuid.uuid4()
            context = self._context(task_id, job, workflow, pipeline, project, index, known_hosts)
            spec = build_task_spec(job.definition, context)
            spec.environment["CIRCLE_WORKFLOW_WORKSPACE_ID"] = workspace_id
            spec.test_timings = timings
            session.add(
                Task(
                    id=task_id,
                    job_id=job.id,
                    node_index=index,
                    status=JobStatus.QUEUED,
                    executor_type=job.executor_type,
                    resource_class=job.resource_class,
                    spec=spec.model_dump(mode="json"),
                    queued_at=now,
                )
            )
            job_secrets.keep_for_task(session, task_id, secrets)
        return job.parallelism

    def _known_hosts(self, vcs_url: str) -> str:
        """What the server's reads of an SSH repository learned of its host: the job's checkout trusts it."""
        path = self._settings.known_hosts_file
        if path is None or not is_ssh_url(vcs_url):
            return ""
        try:
            return known_hosts_for(vcs_url, path.read_text(errors="replace"))
        except FileNotFoundError:
            return ""

    def _context(
        self,
        task_id: uuid.UUID,
        job: Job,
        workflow: Workflow,
        pipeline: Pipeline,
        project: Project,
        index: int,
        known_hosts: str = "",
    ) -> TaskContext:
        assert job.number is not None
        extra: dict[str, str] = {}
        if pipeline.state == PipelineState.SETUP:
            # Setup jobs may continue their pipeline with a config of their choosing (dynamic config).
            extra["CIRCLE_CONTINUATION_KEY"] = continuation_key(self._settings.server_key, pipeline.id)
        return TaskContext(
            task_id=str(task_id),
            job_id=str(job.id),
            job_name=job.name,
            job_number=job.number,
            workflow_id=str(workflow.id),
            workflow_name=workflow.name,
            pipeline_id=str(pipeline.id),
            pipeline_number=pipeline.number,
            project_slug=project.slug,
            repository_url=pipeline.vcs_url,
            revision=pipeline.revision,
            branch=pipeline.branch,
            tag=pipeline.tag,
            actor=pipeline.trigger_actor,
            build_url=f"{self._settings.public_url}/{project.slug}/{job.number}",
            node_index=index,
            node_total=job.parallelism,
            no_output_timeout_s=self._settings.no_output_timeout_s,
            max_time_s=self._settings.max_job_time_s,
            extra_environment=extra,
            known_hosts=known_hosts,
        )

    async def task_finished(
        self, session: AsyncSession, task: Task, status: JobStatus, message: str | None = None
    ) -> SettleResult:
        """Record a task's end; when it was the job's last task, finish the job and settle its workflow."""
        now = utcnow()
        task.status = status
        task.stopped_at = now
        if message:
            task.message = message
        job = await pipeline_q.job_by_id(session, task.job_id)
        assert job is not None
        tasks = await task_q.tasks_of_job(session, job.id)
        statuses = [JobStatus(t.status) for t in tasks]
        if not all(s in FINAL_JOB_STATUSES for s in statuses):
            return SettleResult()
        job.status = next(s for s in _SEVERITY if s in statuses)
        job.stopped_at = now
        for done in tasks:
            await job_secrets.drop_for_task(session, done.id)
        await record_job_event(session, "workflow.job.finish", job, success=job.status == JobStatus.SUCCESS)
        await self.completions.job_completed(session, job)
        workflow = await pipeline_q.workflow_by_id(session, job.workflow_id)
        assert workflow is not None
        result = await self.settle_workflow(session, workflow)
        if job.serial_group:
            await session.flush()
            result.queued_tasks += (await self.release_serial_group(session, job)).queued_tasks
        return result

    async def requeue_task(self, session: AsyncSession, task: Task, reason: str) -> None:
        """Put a task whose agent was lost before it ran anything back in the queue, once."""
        task.status = JobStatus.QUEUED
        task.agent_id = None
        task.started_at = None
        task.last_event_seq = 0
        task.retries += 1
        task.message = f"retried: {reason}"
        task.queued_at = utcnow()
        job = await pipeline_q.job_by_id(session, task.job_id)
        assert job is not None
        others = [t for t in await task_q.tasks_of_job(session, job.id) if t.id != task.id]
        if job.status == JobStatus.RUNNING and not any(t.status == JobStatus.RUNNING for t in others):
            job.status = JobStatus.QUEUED

    async def task_started(self, session: AsyncSession, task: Task) -> None:
        found = await pipeline_q.job_with_lineage(session, task.job_id)  # held: the audit event reads the lineage
        assert found is not None
        job = found[0]
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING
            job.started_at = task.started_at or utcnow()
            await record_job_event(session, "workflow.job.start", job, task_id=str(task.id))
