"""Pipeline creation: number it, fetch `.circleci/config.yml` at the revision, compile, build the graph."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import anyio

from rondo import config
from rondo.domain.status import JobStatus, PipelineState, WorkflowStatus
from rondo.engine.conductor import Conductor
from rondo.engine.pipeline_values import pipeline_values
from rondo.engine.repositories import Repositories
from rondo.engine.task_specs import job_definition
from rondo.engine.wakeup import Wakeup
from rondo.store import projects as project_q
from rondo.store.db import Database
from rondo.store.models import Job, Pipeline, Project, Workflow
from rondo.store.types import utcnow
from rondo.vcs import VcsError

log = logging.getLogger(__name__)

CONFIG_PATH = ".circleci/config.yml"
MAX_CONFIG_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True)
class Trigger:
    """Why and for what a pipeline is made."""

    type: str  # webhook (a push seen by Rondo) | api | scheduled_pipeline
    actor: str
    branch: str | None = None
    tag: str | None = None
    revision: str | None = None
    parameters: dict[str, Any] | None = None


class PipelineService:
    def __init__(
        self,
        db: Database,
        repositories: Repositories,
        conductor: Conductor,
        wakeup: Wakeup,
        orb_source: Callable[[], config.OrbSource] | None = None,
        public_url: str = "http://127.0.0.1:8080",
    ) -> None:
        self._db = db
        self._repos = repositories
        self._conductor = conductor
        self._wakeup = wakeup
        self._orb_source = orb_source or config.NoOrbs
        self._public_url = public_url
        self._orb_cache: dict[str, Any] = {}  # orb source text -> parsed YAML, shared by compiles

    async def compile(
        self, source: str, values: dict[str, Any], parameters: dict[str, Any] | None
    ) -> config.CompiledConfig:
        """Compile in a worker thread: the registry orb source calls back into the event loop."""
        if len(self._orb_cache) > 256:
            self._orb_cache.clear()
        return await anyio.to_thread.run_sync(
            partial(
                config.compile_config,
                source,
                filename=CONFIG_PATH,
                pipeline_values=values,
                parameters=parameters or {},
                orb_source=self._orb_source(),
                orb_cache=self._orb_cache,
            )
        )

    async def trigger(self, project_id: uuid.UUID, trigger: Trigger) -> Pipeline:
        """Create a pipeline and, unless its config has errors, its workflows and first queued jobs."""
        async with self._db.session() as session:
            project = await project_q.project_by_id(session, project_id)
            if project is None:
                raise LookupError(f"project {project_id} not found")
            number = await project_q.next_pipeline_number(session, project.id)
            pipeline = Pipeline(
                project_id=project.id,
                number=number,
                state=PipelineState.CREATED,
                trigger_type=trigger.type,
                trigger_actor=trigger.actor,
                branch=trigger.branch,
                tag=trigger.tag,
                revision=trigger.revision,
                vcs_url=project.vcs_url,
                parameters=dict(trigger.parameters or {}),
                errors=[],
            )
            session.add(pipeline)
        # Git I/O happens outside any transaction; the pipeline row already exists meanwhile.
        errors, source = await self._fetch_config(project, pipeline)
        compiled: config.CompiledConfig | None = None
        values = pipeline_values(pipeline, project, self._public_url)
        if not errors and source is not None:
            try:
                compiled = await self.compile(source, values, pipeline.parameters)
            except config.ConfigErrors as exc:
                errors = [{**e.as_dict(), "type": "config", "message": str(e)} for e in exc.errors]
        queued = 0
        async with self._db.session() as session:
            session.add(pipeline)
            pipeline.config_source = source
            pipeline.updated_at = utcnow()
            if errors or compiled is None:
                pipeline.state = PipelineState.ERRORED
                pipeline.errors = errors
            else:
                queued = await self._create_workflows(session, pipeline, compiled, values)
        if queued:
            self._wakeup.notify()
        log.info("pipeline %s #%d of %s: %s", pipeline.id, pipeline.number, project.slug, pipeline.state)
        return pipeline

    async def _fetch_config(self, project: Project, pipeline: Pipeline) -> tuple[list[dict[str, Any]], str | None]:
        repo = self._repos.get(project.vcs_url)
        try:
            if pipeline.revision is None:
                ref = pipeline.tag or pipeline.branch or project.default_branch
                if ref is None:
                    return [{"type": "config-fetch", "message": "no branch or tag given and no default branch"}], None
                pipeline.branch = pipeline.branch or (None if pipeline.tag else ref)
                pipeline.revision = await repo.resolve(ref)
            info = await repo.commit_info(pipeline.revision)
            pipeline.commit_subject, pipeline.commit_body = info.subject, info.body
            raw = await repo.read_file(pipeline.revision, CONFIG_PATH)
        except VcsError as exc:
            return [{"type": "config-fetch", "message": str(exc)}], None
        if raw is None:
            return [{"type": "config-fetch", "message": f"{CONFIG_PATH} not found at {pipeline.revision}"}], None
        if len(raw) > MAX_CONFIG_BYTES:
            msg = f"{CONFIG_PATH} is {len(raw)} bytes; the limit is {MAX_CONFIG_BYTES}"
            return [{"type": "config", "message": msg}], None
        try:
            return [], raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [{"type": "config", "message": f"{CONFIG_PATH} is not UTF-8 text ({exc.reason})"}], None

    async def _create_workflows(
        self, session: Any, pipeline: Pipeline, compiled: config.CompiledConfig, values: dict[str, Any]
    ) -> int:
        queued = 0
        for wf in compiled.workflows:
            if wf.triggers:
                continue  # a scheduled workflow runs only on its schedule
            jobs = _unfiltered(wf, pipeline.branch, pipeline.tag, values)
            if not jobs:
                continue
            workflow = Workflow(pipeline_id=pipeline.id, name=wf.name, status=WorkflowStatus.RUNNING)
            session.add(workflow)
            await session.flush()
            for wf_job in jobs:
                definition = job_definition(compiled.jobs[wf_job.job]) if wf_job.type == "build" else {}
                executor = definition.get("executor", {})
                session.add(
                    Job(
                        workflow_id=workflow.id,
                        project_id=pipeline.project_id,
                        name=wf_job.name,
                        type=wf_job.type,
                        status=JobStatus.BLOCKED,
                        requires={k: list(v) for k, v in wf_job.requires.items()},
                        definition=definition,
                        parallelism=int(definition.get("parallelism", 1)),
                        executor_type=str(executor.get("type", "none")),
                        resource_class=str(executor.get("resource_class", "")),
                    )
                )
            await session.flush()
            queued += (await self._conductor.settle_workflow(session, workflow)).queued_tasks
        return queued


def _unfiltered(
    wf: config.Workflow, branch: str | None, tag: str | None, values: dict[str, Any]
) -> list[config.WorkflowJob]:
    """The workflow's jobs that run for this branch or tag, with requires on filtered-out jobs dropped.

    A job whose own filters exclude it does not run; nor does a job all of whose upstream jobs were
    filtered out. A job with some upstreams left waits only for those (CONFIG-SPEC §10.3).
    """
    kept: dict[str, config.WorkflowJob] = {}
    filtered: set[str] = set()
    pending = list(wf.jobs)
    by_name = {j.name: j for j in wf.jobs}
    order: list[config.WorkflowJob] = []
    placed: set[str] = set()
    while pending:
        progressed = False
        for job in list(pending):
            if all(r in placed or r not in by_name for r in job.requires):
                order.append(job)
                placed.add(job.name)
                pending.remove(job)
                progressed = True
        if not progressed:
            order.extend(pending)
            break
    for job in order:
        if not config.job_runs(job.filters, branch, tag, values):
            filtered.add(job.name)
            continue
        upstream = [r for r in job.requires if r in by_name]
        if upstream and all(r in filtered for r in upstream):
            filtered.add(job.name)
            continue
        requires = {r: s for r, s in job.requires.items() if r not in filtered}
        kept[job.name] = replace(job, requires=requires)
    return [kept[j.name] for j in wf.jobs if j.name in kept]
