"""Pipeline creation: number it, fetch `.circleci/config.yml` at the revision, compile, build the graph."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any

import anyio

from rondo import config
from rondo.domain.status import JobStatus, PipelineState, WorkflowStatus
from rondo.engine.conductor import Conductor
from rondo.engine.orb_access import PUBLIC, OrbViewer, for_organization
from rondo.engine.pipeline_values import pipeline_values
from rondo.engine.repositories import Repositories
from rondo.engine.task_specs import job_definition
from rondo.engine.wakeup import Wakeup
from rondo.secrets import continuation
from rondo.store import pipelines as pipeline_q
from rondo.store import projects as project_q
from rondo.store.db import Database
from rondo.store.models import Job, Organization, Pipeline, Project, Workflow
from rondo.store.types import utcnow
from rondo.vcs import VcsError

log = logging.getLogger(__name__)

CONFIG_PATH = ".circleci/config.yml"
CONTINUATION_TTL = timedelta(hours=6)
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
    schedule_id: str | None = None  # for scheduled_pipeline: `<< pipeline.schedule.id >>`
    schedule_name: str | None = None  # and `<< pipeline.schedule.name >>`


class PipelineService:
    def __init__(
        self,
        db: Database,
        repositories: Repositories,
        conductor: Conductor,
        wakeup: Wakeup,
        orb_sources: Callable[[OrbViewer], config.OrbSource] | None = None,
        public_url: str = "http://127.0.0.1:8080",
        server_key: bytes = b"",
    ) -> None:
        self._db = db
        self._repos = repositories
        self._conductor = conductor
        self._wakeup = wakeup
        self._orb_sources = orb_sources or (lambda _viewer: config.NoOrbs())
        self._public_url = public_url
        self._server_key = server_key
        self._orb_cache: dict[str, Any] = {}  # orb source text -> parsed YAML, shared by compiles

    async def compile(
        self, source: str, values: dict[str, Any], parameters: dict[str, Any] | None, viewer: OrbViewer = PUBLIC
    ) -> config.CompiledConfig:
        """Compile in a worker thread: the registry orb source calls back into the event loop.

        `viewer` decides which private orbs the config may use: a pipeline's, its organization's.
        """
        if len(self._orb_cache) > 256:
            self._orb_cache.clear()
        return await anyio.to_thread.run_sync(
            partial(
                config.compile_config,
                source,
                filename=CONFIG_PATH,
                pipeline_values=values,
                parameters=parameters or {},
                orb_source=self._orb_sources(viewer),
                orb_cache=self._orb_cache,
            )
        )

    async def trigger(
        self,
        project_id: uuid.UUID,
        trigger: Trigger,
        project: Project | None = None,
        organization: Organization | None = None,
    ) -> Pipeline:
        """Create a pipeline and, unless its config has errors, its workflows and first queued jobs.

        `project` (and its `organization`) are the rows when the caller has just read them (queries fewer).
        """
        async with self._db.session() as session:
            if project is None or project.id != project_id:
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
        values = pipeline_values(
            pipeline, project, self._public_url, schedule_id=trigger.schedule_id, schedule_name=trigger.schedule_name
        )
        if not errors and source is not None:
            try:
                compiled = await self.compile(
                    source, values, pipeline.parameters, for_organization(project.organization_id)
                )
            except config.ConfigErrors as exc:
                errors = [{**e.as_dict(), "type": "config", "message": str(e)} for e in exc.errors]
        queued = 0
        async with self._db.session() as session:
            session.add(pipeline)
            session.add(project)  # unchanged: queuing jobs reads it from the session, not the database
            if organization is not None and organization.id == project.organization_id:
                session.add(organization)  # likewise, for the audit events' lineage
            pipeline.config_source = source
            pipeline.updated_at = utcnow()
            if compiled is not None and compiled.setup and not errors:
                errors = _setup_errors(compiled, pipeline, values)
            if errors or compiled is None:
                pipeline.state = PipelineState.ERRORED
                pipeline.errors = errors
            else:
                pipeline.compiled_config = compiled.processed_yaml
                if compiled.setup:
                    # The setup workflow's jobs get CIRCLE_CONTINUATION_KEY while the pipeline is in setup.
                    pipeline.state = PipelineState.SETUP
                    await session.flush()
                queued = await self._create_workflows(session, pipeline, compiled, values)
        if queued:
            self._wakeup.notify()
        log.info("pipeline %s #%d of %s: %s", pipeline.id, pipeline.number, project.slug, pipeline.state)
        return pipeline

    async def continue_pipeline(self, key: str, configuration: str, parameters: dict[str, Any] | None) -> Pipeline:
        """Run a setup pipeline's continuation config in the same pipeline (dynamic config).

        Raises ContinuationError (with the HTTP status to answer) when the key is not genuine, the
        pipeline was already continued, is not a setup pipeline, is older than 6 hours, or the
        configuration does not compile; compile errors are also recorded on the pipeline.
        """
        pipeline_id = continuation.pipeline_of(self._server_key, key)
        if pipeline_id is None:
            raise ContinuationError(401, "Invalid continuation key.")
        async with self._db.session() as session:
            pipeline = await pipeline_q.pipeline_by_id(session, pipeline_id)
            if pipeline is None:
                raise ContinuationError(404, "Pipeline not found.")
            project = await project_q.project_by_id(session, pipeline.project_id)
            assert project is not None
            if pipeline.state != PipelineState.SETUP:
                raise ContinuationError(400, "This pipeline has already been continued or is not a setup pipeline.")
            if utcnow() - pipeline.created_at > CONTINUATION_TTL:
                raise ContinuationError(400, "The continuation key has expired: pipelines continue within 6 hours.")
            # Claim the continuation now, so two concurrent calls cannot both continue.
            pipeline.state = PipelineState.PENDING
        values = pipeline_values(pipeline, project, self._public_url)
        try:
            compiled = await self.compile(
                configuration, values, parameters or {}, for_organization(project.organization_id)
            )
            if compiled.setup:
                raise config.ConfigErrors(
                    [config.ConfigError("a continuation config cannot itself be a setup config", "setup")]
                )
        except config.ConfigErrors as exc:
            errors = [{**e.as_dict(), "type": "config", "message": str(e)} for e in exc.errors]
            async with self._db.session() as session:
                session.add(pipeline)
                pipeline.state = PipelineState.ERRORED
                pipeline.errors = [*(pipeline.errors or []), *errors]
                pipeline.updated_at = utcnow()
            raise ContinuationError(400, "\n".join(str(e["message"]) for e in errors)) from None
        async with self._db.session() as session:
            session.add(pipeline)
            pipeline.state = PipelineState.CREATED
            pipeline.updated_at = utcnow()
            # The continued config becomes the pipeline's config; the setup config is kept beside it.
            pipeline.setup_config_source, pipeline.compiled_setup_config = (
                pipeline.config_source,
                pipeline.compiled_config,
            )
            pipeline.config_source, pipeline.compiled_config = configuration, compiled.processed_yaml
            queued = await self._create_workflows(session, pipeline, compiled, values)
        if queued:
            self._wakeup.notify()
        log.info("pipeline %s #%d continued: %d tasks queued", pipeline.id, pipeline.number, queued)
        return pipeline

    async def _fetch_config(self, project: Project, pipeline: Pipeline) -> tuple[list[dict[str, Any]], str | None]:
        repo = await self._repos.of_project(project.id, project.vcs_url)
        try:
            if pipeline.revision is None:
                ref = pipeline.tag or pipeline.branch or project.default_branch
                if ref is None:
                    return [{"type": "config-fetch", "message": "no branch or tag given and no default branch"}], None
                pipeline.branch = pipeline.branch or (None if pipeline.tag else ref)
                pipeline.revision = await repo.resolve(ref)
            info, raw = await repo.commit_and_file(pipeline.revision, CONFIG_PATH)
            pipeline.commit_subject, pipeline.commit_body = info.subject, info.body
            pipeline.commit_author_name, pipeline.commit_author_email = info.author_name, info.author_email
            pipeline.commit_committer_name, pipeline.commit_committer_email = info.committer_name, info.committer_email
            pipeline.commit_authored_at, pipeline.commit_committed_at = info.authored_at, info.committed_at
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
            workflow = Workflow(
                pipeline_id=pipeline.id,
                name=wf.name,
                status=WorkflowStatus.RUNNING,
                tag="setup" if compiled.setup else None,
                max_auto_reruns=wf.max_auto_reruns,
                started_by=pipeline.trigger_actor,
            )
            session.add(workflow)
            await session.flush()
            rows = []
            for wf_job in jobs:
                definition = job_definition(compiled.jobs[wf_job.job]) if wf_job.type == "build" else {}
                executor = definition.get("executor", {})
                rows.append(
                    Job(
                        workflow_id=workflow.id,
                        project_id=pipeline.project_id,
                        name=wf_job.name,
                        type=wf_job.type,
                        status=JobStatus.BLOCKED,
                        requires={k: list(v) for k, v in wf_job.requires.items()},
                        definition=definition,
                        parallelism=int(definition.get("parallelism", 1)),
                        contexts=list(wf_job.context),
                        serial_group=wf_job.serial_group,
                        executor_type=str(executor.get("type", "none")),
                        resource_class=str(executor.get("resource_class", "")),
                    )
                )
            session.add_all(rows)
            await session.flush()
            queued += (await self._conductor.settle_workflow(session, workflow, rows)).queued_tasks
        return queued


class ContinuationError(Exception):
    """A continuation that cannot be done; `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _setup_errors(compiled: config.CompiledConfig, pipeline: Pipeline, values: dict[str, Any]) -> list[dict[str, Any]]:
    """A setup config runs at most one workflow, and no scheduled ones (CONFIG-SPEC §14)."""
    running = [w for w in compiled.workflows if _unfiltered(w, pipeline.branch, pipeline.tag, values)]
    problems = []
    if len(running) > 1:
        names = ", ".join(w.name for w in running)
        problems.append(f"a setup config runs at most one workflow; this one would run {names}")
    if any(w.triggers for w in compiled.workflows):
        problems.append("scheduled workflows (`triggers`) are not supported in a setup config")
    return [{"type": "config", "message": m, "path": "workflows", "file": CONFIG_PATH} for m in problems]


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
