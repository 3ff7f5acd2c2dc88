"""A numbered job as a v1.1 "build": CircleCI's summary and details shapes, and its status words.

v1.1 describes a build with three words where v2 has one job status: `lifecycle` (where it is),
`outcome` (how it ended, once it has) and `status` (both, plus `fixed` for a success after a failure).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rondo.domain.resource_classes import SIZES
from rondo.domain.slugs import ProjectSlug
from rondo.domain.status import FAILED_JOB_STATUSES, JobStatus
from rondo.server.shapes import iso
from rondo.store.models import Job, Pipeline, Project, Step, Task, User, Workflow

# Rondo job status -> (lifecycle, outcome, status) in v1.1's words.
_STATES: dict[str, tuple[str, str | None, str]] = {
    JobStatus.SUCCESS: ("finished", "success", "success"),
    JobStatus.FAILED: ("finished", "failed", "failed"),
    JobStatus.CANCELED: ("finished", "canceled", "canceled"),
    JobStatus.INFRASTRUCTURE_FAIL: ("finished", "infrastructure_fail", "infrastructure_fail"),
    JobStatus.TERMINATED_UNKNOWN: ("finished", "infrastructure_fail", "infrastructure_fail"),
    JobStatus.TIMEDOUT: ("finished", "timedout", "timedout"),
    JobStatus.RETRIED: ("finished", None, "retried"),
    JobStatus.NOT_RUN: ("not_run", None, "not_run"),
    JobStatus.UNAUTHORIZED: ("not_run", None, "not_run"),
    JobStatus.QUEUED: ("queued", None, "queued"),
    JobStatus.RUNNING: ("running", None, "running"),
    JobStatus.NOT_RUNNING: ("not_running", None, "not_running"),
    JobStatus.BLOCKED: ("not_running", None, "not_running"),
    JobStatus.ON_HOLD: ("not_running", None, "not_running"),
}

# v1.1's `filter` query values -> the job statuses they select. Unknown values filter nothing
# (the `circleci` client sends `filter=None`). "running" means not finished yet, queued included.
FILTERS: dict[str, frozenset[str]] = {
    "completed": frozenset(s for s, (lifecycle, _, _) in _STATES.items() if lifecycle == "finished"),
    "successful": frozenset({JobStatus.SUCCESS}),
    "failed": frozenset(FAILED_JOB_STATUSES),
    "running": frozenset({JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.NOT_RUNNING}),
}

# The keys `shallow=true` keeps: the v1.1 reference's shallow example.
SHALLOW_KEYS = (
    *("vcs_url", "build_url", "build_num", "branch", "vcs_revision", "committer_name", "committer_email"),
    *("subject", "body", "why", "dont_build", "queued_at", "start_time", "stop_time", "build_time_millis"),
    *("username", "reponame", "lifecycle", "outcome", "status", "retry_of", "previous"),
)


def v1_state(job_status: str, previous_status: str | None = None) -> tuple[str, str | None, str]:
    """(lifecycle, outcome, status) of a job; a success right after a failure is `fixed`."""
    lifecycle, outcome, status = _STATES.get(job_status, ("not_running", None, "not_running"))
    if job_status == JobStatus.SUCCESS and previous_status in FAILED_JOB_STATUSES:
        status = "fixed"
    return lifecycle, outcome, status


@dataclass
class Build:
    """A numbered job with what its v1.1 summary shows beside it."""

    job: Job
    workflow: Workflow
    pipeline: Pipeline
    project: Project
    upstream_job_ids: list[str] = field(default_factory=list)
    previous: Job | None = None
    retry_of: int | None = None
    user: User | None = None  # the Rondo user who started the pipeline, if a user did


def _millis(job: Job) -> int | None:
    if job.started_at and job.stopped_at:
        return int((job.stopped_at - job.started_at).total_seconds() * 1000)
    return None


def _previous_json(previous: Job) -> dict[str, Any]:
    _, _, status = v1_state(previous.status)
    return {"build_num": previous.number, "status": status, "build_time_millis": _millis(previous)}


def _picard(executor: str, resource_class: str) -> dict[str, Any]:
    """The executor and the resource class with the CPUs and memory it stands for (none for runner classes)."""
    size = SIZES.get(resource_class)
    cpu, ram = (float(size[0]), size[1]) if size else (None, None)
    return {"executor": executor, "resource_class": {"class": resource_class, "cpu": cpu, "ram": ram}}


def _why(pipeline: Pipeline, slug: ProjectSlug) -> str:
    if pipeline.trigger_type == "api":
        return "api"
    if pipeline.trigger_type == "scheduled_pipeline":
        return "scheduled_pipeline"
    return slug.vcs_type  # a push: "github" / "bitbucket"


def build_summary(build: Build, public_url: str, *, shallow: bool = False) -> dict[str, Any]:
    """The build summary the v1.1 lists return (`shallow` keeps the reference's short form)."""
    job, wf, pipe, project = build.job, build.workflow, build.pipeline, build.project
    slug = ProjectSlug.parse(project.slug)
    previous = build.previous
    lifecycle, outcome, status = v1_state(job.status, previous.status if previous else None)
    finished = lifecycle == "finished"
    body: dict[str, Any] = {
        "vcs_url": pipe.vcs_url,
        "build_url": f"{public_url}/{project.slug}/{job.number}",
        "build_num": job.number,
        "branch": pipe.branch,
        "vcs_revision": pipe.revision,
        "vcs_tag": pipe.tag,
        # Pipelines made before the commit's people were kept have nulls, as CircleCI shows unknowns.
        "committer_name": pipe.commit_committer_name,
        "committer_email": pipe.commit_committer_email,
        "committer_date": iso(pipe.commit_committed_at),
        "author_name": pipe.commit_author_name,
        "author_email": pipe.commit_author_email,
        "author_date": iso(pipe.commit_authored_at),
        "subject": pipe.commit_subject,
        "body": pipe.commit_body,
        "why": _why(pipe, slug),
        "dont_build": None,
        "queued_at": iso(job.queued_at),
        "start_time": iso(job.started_at),
        "stop_time": iso(job.stopped_at),
        "build_time_millis": _millis(job),
        "username": slug.org,
        "reponame": slug.repo,
        "vcs_type": slug.vcs_type,
        "lifecycle": lifecycle,
        "outcome": outcome,
        "status": status,
        "failed": (job.status in FAILED_JOB_STATUSES) if finished else None,
        "canceled": job.status == JobStatus.CANCELED,
        "infrastructure_fail": job.status in (JobStatus.INFRASTRUCTURE_FAIL, JobStatus.TERMINATED_UNKNOWN),
        "timedout": job.status == JobStatus.TIMEDOUT,
        "retry_of": build.retry_of,
        "previous": _previous_json(previous) if previous else None,
        "parallel": job.parallelism,
        "platform": "2.0",
        "job_name": None,  # 2.0 jobs name themselves in build_parameters.CIRCLE_JOB and workflows.job_name
        "build_parameters": {"CIRCLE_JOB": job.name},
        "oss": False,
        "ssh_disabled": True,
        "ssh_users": [],
        "pull_requests": [],
        "user": {
            "is_user": build.user is not None,
            "login": pipe.trigger_actor,
            "avatar_url": None,
            "name": build.user.name if build.user else None,
            "vcs_type": slug.vcs_type,
        },
        "workflows": {
            "job_name": job.name,
            "job_id": str(job.id),
            "workflow_id": str(wf.id),
            "workspace_id": str(wf.id),
            "workflow_name": wf.name,
            "pipeline_id": str(pipe.id),
            "upstream_job_ids": build.upstream_job_ids,
            "upstream_concurrency_map": {},
        },
        "picard": _picard(job.executor_type, job.resource_class),
        "messages": [],
    }
    if shallow:
        return {key: body[key] for key in SHALLOW_KEYS}
    return body


def action_json(step: Step, task: Task, command: str | None, output_url: str) -> dict[str, Any]:
    """One step on one parallel run: a v1.1 `steps[].actions[]` entry."""
    run_ms = None
    if step.started_at and step.stopped_at:
        run_ms = int((step.stopped_at - step.started_at).total_seconds() * 1000)
    return {
        "index": task.node_index,
        "step": step.index,
        "name": step.name,
        "type": "test",
        "status": step.status,
        "failed": True if step.status == "failed" else None,
        "exit_code": step.exit_code,
        "bash_command": command,
        "parallel": True,
        "background": False,
        "infrastructure_fail": True if step.status == "infrastructure_fail" else None,
        "timedout": True if step.status == "timedout" else None,
        "canceled": True if step.status == "canceled" else None,
        "continue": None,
        "insignificant": False,
        "truncated": False,
        "has_output": step.output_bytes > 0,
        # CircleCI links only output that exists; Rondo always links, so a client can follow a step
        # that has printed nothing yet (the link then gives []).
        "output_url": output_url,
        "start_time": iso(step.started_at),
        "end_time": iso(step.stopped_at),
        "run_time_millis": run_ms,
    }


def build_details(
    build: Build,
    steps_by_task: list[tuple[Task, list[Step]]],
    public_url: str,
    output_url: Callable[[int, int], str],
) -> dict[str, Any]:
    """The full build: the summary, the steps with one action per parallel run, and the config.

    `output_url(step_index, node_index)` makes the (signed) link to one action's output.
    """
    job = build.job
    commands = {i: s.get("command") for i, s in enumerate(job.definition.get("steps", [])) if isinstance(s, dict)}
    steps: dict[int, dict[str, Any]] = {}
    for task, task_steps in steps_by_task:
        for step in task_steps:
            entry = steps.setdefault(step.index, {"name": step.name, "actions": []})
            action = action_json(step, task, commands.get(step.index), output_url(step.index, task.node_index))
            entry["actions"].append(action)
    body = build_summary(build, public_url)
    pipe = build.pipeline
    # A continued pipeline's setup jobs ran under the setup config, kept beside the continued one.
    compiled = pipe.compiled_setup_config if build.workflow.tag == "setup" and pipe.setup_config_source else None
    compiled = compiled or pipe.compiled_config
    body["circle_yml"] = {"string": compiled} if compiled else None
    body["steps"] = [steps[i] for i in sorted(steps)]
    return body


def branch_build_json(job: Job, pipeline: Pipeline) -> dict[str, Any]:
    """A build as `GET /projects` lists it under a branch."""
    _, outcome, status = v1_state(job.status)
    return {
        "outcome": outcome,
        "status": status,
        "build_num": job.number,
        "vcs_revision": pipeline.revision,
        "pushed_at": iso(pipeline.created_at),
        "added_at": iso(job.queued_at),
    }
